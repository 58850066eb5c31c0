// Where the load balancer reaches a host's role: one server at one address, or for a
// blue/green role one server per colour (`h1.blue`, `h1.green`), each at its own address.
// The deploy, its restore, the reconcile and the retire all ask here which server and
// address a colour has, so a colour is a parameter of each step rather than a second path.
import { ConfigError } from '../shared/contract/errors.js';
import { roleColours, type RoleConfig, type RoleColours } from '../shared/contract/role-config.js';
import { FULL_WEIGHT, serverName, type Colour } from '../shared/contract/strategy.js';
import type { Deploy } from '../shared/contract/schemas.js';

/** A role's load-balancer settings on this host: one address, or the colours' own. */
export type RoleServers = { backend: string; address: string } | { backend: string; colours: RoleColours };

/** One server this host registers in its role's backend. */
export interface ServedInstance {
  backend: string;
  /** The server's name in the backend: the node, or `node.colour`. */
  server: string;
  address: string;
  /** Set for a colour of a blue/green role. */
  colour?: Colour;
}

/** The role's settings as the agent's config gives them (validation leaves an address or both colours). */
export function roleServers(settings: Pick<RoleConfig, 'lb' | 'colours'>): RoleServers {
  const colours = roleColours(settings);
  if (colours) return { backend: settings.lb.backend, colours };
  if (settings.lb.address === undefined) throw new ConfigError('a role without colours must have lb.address');
  return { backend: settings.lb.backend, address: settings.lb.address };
}

export function hasColours(lb: RoleServers): lb is { backend: string; colours: RoleColours } {
  return 'colours' in lb;
}

/** The colours a role runs on this host; none for a role without colours. */
export function coloursOf(lb: RoleServers): Colour[] {
  return hasColours(lb) ? ['blue', 'green'] : [];
}

/**
 * The colour a deploy replaces on this host: the one the deploy names, else blue on a role
 * with colours (the live colour until a first switch), else none. A deploy naming a colour
 * for a role that has none here is this host's config at fault, not the release.
 */
export function replacedColour(role: string, lb: RoleServers, colour: Colour | undefined): Colour | undefined {
  if (!hasColours(lb)) {
    if (colour !== undefined) {
      throw new ConfigError(`the deploy replaces the ${colour} colour of role ${role}, but this host runs ${role} without colours (roles.${role}.colours is not set)`);
    }
    return undefined;
  }
  return colour ?? 'blue';
}

/** The server and address of the role's container of `colour` (none: the role's one container). */
export function instanceOf(node: string, role: string, lb: RoleServers, colour?: Colour): ServedInstance {
  if (colour === undefined) {
    if (hasColours(lb)) throw new ConfigError(`role ${role} runs in two colours on this host: say which`);
    return { backend: lb.backend, server: serverName(node), address: lb.address };
  }
  if (!hasColours(lb)) throw new ConfigError(`role ${role} has no ${colour} colour on this host (roles.${role}.colours is not set)`);
  return { backend: lb.backend, server: serverName(node, colour), address: lb.colours[colour].address, colour };
}

/** The role's container and server a deploy replaces on this host: a colour's, on a blue/green role. */
export function deployedInstance(node: string, lbs: Record<string, RoleServers>, deploy: { role: string; colour?: Colour | undefined }): ServedInstance {
  const lb = lbs[deploy.role];
  if (!lb) throw new ConfigError(`this host has no load balancer settings for role ${deploy.role}`);
  return instanceOf(node, deploy.role, lb, replacedColour(deploy.role, lb, deploy.colour));
}

/**
 * The weight a deploy registers its server at: a blue/green deploy's new colour joins the
 * backend sent nothing (the coordinator moves the group's traffic to it at once); any other at full weight.
 */
export function registerWeight(deploy: Pick<Deploy, 'strategy'>): number {
  return deploy.strategy?.kind === 'blue-green' ? 0 : FULL_WEIGHT;
}
