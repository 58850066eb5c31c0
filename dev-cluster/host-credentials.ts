// Each host of the local cluster gets its own host credential from the coordinator, made
// before the hosts start: its agent reports, reads deploys and talks to the relay only as itself.
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import type { DevHostSpec } from './cluster-state.js';

/** Host name -> the token of its host credential (kept in the 0600 state file and the host's 0600 agent config). */
export async function mintHostCredentials(client: CoordinatorClient, hosts: readonly DevHostSpec[]): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const { name } of hosts) tokens[name] = (await client.createToken({ scope: 'host', host: name })).token;
  return tokens;
}
