// The weights that give a set of servers a share of a backend's traffic (HAProxy sends each
// server its weight's share among the servers that are up), and the server names of a deploy.
import { FULL_WEIGHT, serverName, type Colour } from '../../shared/contract/strategy.js';

/** HAProxy's largest weight. */
const MAX_WEIGHT = 256;

/**
 * Weights for `favoured` to get `percent` of the traffic against `others`: the others at full
 * weight and the favoured at what makes the share (both scaled down when that passes 256).
 */
export function shareWeights(favoured: readonly string[], others: readonly string[], percent: number): Record<string, number> {
  if (favoured.length === 0 || others.length === 0 || percent <= 0 || percent >= 100) {
    const full = percent <= 0 ? 0 : FULL_WEIGHT;
    return { ...weigh(favoured, full), ...weigh(others, percent >= 100 ? 0 : FULL_WEIGHT) };
  }
  const share = percent / 100;
  let other = FULL_WEIGHT;
  let mine = (share * others.length * other) / ((1 - share) * favoured.length);
  if (mine > MAX_WEIGHT) {
    other = (other * MAX_WEIGHT) / mine;
    mine = MAX_WEIGHT;
  }
  return { ...weigh(favoured, Math.max(1, Math.round(mine))), ...weigh(others, Math.max(1, Math.round(other))) };
}

/** Each of `servers` at `weight`. */
export function weigh(servers: readonly string[], weight: number): Record<string, number> {
  return Object.fromEntries(servers.map((server) => [server, weight]));
}

/** The load balancer servers of `hosts` in a deploy that replaces `colour` (none: a role in one colour). */
export function serversOf(hosts: readonly string[], colour: Colour | undefined): string[] {
  return hosts.map((host) => serverName(host, colour));
}
