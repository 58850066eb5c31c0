// Who may do what through the relay, as one pure function: a host credential acts only on the
// servers named after its host (`h1`, and `h1.blue` / `h1.green` for a blue/green role), and
// registers them only at the address it connects from; weights and traffic are the operator's
// (the coordinator's) alone, and so are the routes of a routed frontend and a retired
// cluster's maintenance.
import net from 'node:net';
import { COLOURS, serverName } from '../shared/contract/strategy.js';
import type { Credential } from '../shared/ports/credentials.js';

export type RelayAction = 'read' | 'drain' | 'register' | 'read-weights' | 'set-weights' | 'read-traffic' | 'read-routes' | 'set-routes' | 'maintenance';

/** A host's own servers: its plain one and one per colour. */
export function serversOf(host: string): string[] {
  return [serverName(host), ...COLOURS.map((colour) => serverName(host, colour))];
}

const OPERATOR_ONLY: ReadonlySet<RelayAction> = new Set(['read-weights', 'set-weights', 'read-traffic', 'read-routes', 'set-routes', 'maintenance']);
/** Actions on a routed frontend rather than on a backend. */
const FRONTEND_ACTIONS: ReadonlySet<RelayAction> = new Set(['read-routes', 'set-routes']);

export interface RelayRequest {
  action: RelayAction;
  /** The backend acted on; empty for a frontend's routes. */
  backend: string;
  /** Absent for a read of the backend's servers. */
  server?: string;
  /** The IP the request came from, as the relay's socket saw it. */
  sourceIp: string;
  /** For a register: the IP the server is pointed at. */
  addressIp?: string;
}

export interface AccessPolicy {
  /** The only backends the relay acts on. */
  backends: readonly string[];
  /** Per host, the IPs it may register besides the one it connects from (a host behind NAT, a second interface). */
  hostAddresses: Readonly<Record<string, readonly string[]>>;
}

export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

export function decideAccess(credential: Pick<Credential, 'scope' | 'host'>, request: RelayRequest, policy: AccessPolicy): AccessDecision {
  const { action, backend, server } = request;
  // A frontend's routes name no backend; the relay answers 404 for a frontend it does not route.
  if (!FRONTEND_ACTIONS.has(action) && !policy.backends.includes(backend)) {
    return refuse(`this relay acts only on the backends ${policy.backends.join(', ')}, not ${backend}`);
  }
  // An operator repairs any server of the fleet's backends, wherever it points it.
  if (credential.scope === 'operator') return { allowed: true };
  // A group's weights move all of its hosts' traffic at once: no one host may do that.
  if (OPERATOR_ONLY.has(action)) {
    return refuse(`${action} through the relay needs an operator credential (the coordinator's); this is a ${credential.scope} credential`);
  }
  if (credential.scope !== 'host' || credential.host === undefined) {
    return refuse(`${action} through the relay needs a host credential (for the server named after the host) or an operator credential; this is a ${credential.scope} credential`);
  }
  // A backend's server list is what every host of the fleet already sees in Serf: names and addresses.
  if (action === 'read') return { allowed: true };
  const own = serversOf(credential.host);
  if (server === undefined || !own.includes(server)) {
    return refuse(
      `a host credential of ${credential.host} may ${action} only the server ${credential.host}, not ${server ?? '(none)'} (a host's servers are ${own[0]} and, for a blue/green role, ${own.slice(1).join(' and ')})`,
    );
  }
  if (action === 'register') {
    const wanted = normalizeIp(request.addressIp ?? '');
    const allowed = [request.sourceIp, ...(policy.hostAddresses[credential.host] ?? [])].map(normalizeIp);
    if (!allowed.includes(wanted)) {
      return refuse(`${credential.host} may register its server only at the address it connects from (${normalizeIp(request.sourceIp)}), not ${wanted || '(none)'}`);
    }
  }
  return { allowed: true };
}

/** `::ffff:10.0.0.5` (an IPv4 client on a dual-stack socket) is 10.0.0.5; IPv6 compared in lower case. */
export function normalizeIp(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  return net.isIPv6(ip) ? ip.toLowerCase() : ip;
}

function refuse(reason: string): AccessDecision {
  return { allowed: false, reason };
}
