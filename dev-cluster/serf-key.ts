// The local cluster's Serf gossip key: a new one per cluster, in <dir>/serf.key (0600),
// which the coordinator's and every host's config name as serf.encryptKeyFile, as a
// host set up by provisioning/install.sh does with /etc/grapevine/serf.key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DevClusterState } from './cluster-state.js';

export function serfKeyFileOf(state: Pick<DevClusterState, 'dir'>): string {
  return join(state.dir, 'serf.key');
}

export function writeSerfKeyFile(state: Pick<DevClusterState, 'dir' | 'serfEncryptKey'>): void {
  writeFileSync(serfKeyFileOf(state), `${state.serfEncryptKey}\n`, { mode: 0o600 });
}
