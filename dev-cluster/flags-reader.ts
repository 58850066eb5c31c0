// The sample app's way to the coordinator's feature flags (its v4-flags tag reads `new-banner`
// over OFREP): a flags-reader credential minted at `dev up` into <dir>/flags-reader.token
// (0600), and each host's compose settings that hand the app the OFREP base URL of its own
// environment and that file, bind-mounted read-only, so the token is never in the app's
// environment or on a command line. Tags that read no flag ignore both.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import type { DevClusterState } from './cluster-state.js';

export const flagsReaderTokenFile = (state: Pick<DevClusterState, 'dir'>) => join(state.dir, 'flags-reader.token');

/** Where the app finds the token and, on a cluster with its own CA, that CA, inside its container. */
const TOKEN_IN_CONTAINER = '/run/grapevine/flags-reader.token';
const CA_IN_CONTAINER = '/run/grapevine/ca.pem';

export async function mintFlagsReader(client: CoordinatorClient, state: Pick<DevClusterState, 'dir'>): Promise<void> {
  const created = await client.createToken({ scope: 'flags-reader', name: 'sample-app-flags' });
  writeFileSync(flagsReaderTokenFile(state), `${created.token}\n`, { mode: 0o600 });
}

/** The app service's environment and volumes for flags: the coordinator as the hosts reach it (the gateway address). */
export function flagsSettingsOf(state: Pick<DevClusterState, 'dir' | 'coordinatorUrl' | 'caFile'>, env: string): { environment: Record<string, string>; volumes: string[] } {
  return {
    environment: {
      GRAPEVINE_FLAGS_URL: `${state.coordinatorUrl}/envs/${encodeURIComponent(env)}`,
      GRAPEVINE_FLAGS_TOKEN_FILE: TOKEN_IN_CONTAINER,
      // Node adds this CA to its own at start: the v4-flags app then verifies the coordinator's certificate.
      ...(state.caFile ? { NODE_EXTRA_CA_CERTS: CA_IN_CONTAINER } : {}),
    },
    volumes: [`${flagsReaderTokenFile(state)}:${TOKEN_IN_CONTAINER}:ro`, ...(state.caFile ? [`${state.caFile}:${CA_IN_CONTAINER}:ro`] : [])],
  };
}
