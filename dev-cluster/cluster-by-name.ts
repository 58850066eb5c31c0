// Finds a local cluster's state folder by the cluster's name: `dev up` keeps it in its --dir,
// the tests and the benchmark in a fresh temporary folder named after the cluster
// (`<tmp>/<name>-XXXXXX`), so that an operator can point `dev traffic` at a test's cluster.
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readClusterState } from './cluster-state.js';
import { DevClusterError } from './dev-cluster-error.js';

/** The state folder of the cluster called `name`, the most recently written one when several are recorded. */
export function clusterDirNamed(name: string, defaultDir: string, temporary = tmpdir()): string {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw new DevClusterError(`"${name}" is not a cluster name: lower-case letters, digits and dashes`);
  let entries: string[] = [];
  try {
    entries = readdirSync(temporary).filter((entry) => entry.startsWith(`${name}-`));
  } catch {
    // No temporary folder to look in: only the default one is left.
  }
  const candidates = [defaultDir, ...entries.map((entry) => join(temporary, entry))];
  const found = candidates
    .map((dir) => ({ dir, state: safeRead(dir) }))
    .filter(({ state }) => state?.name === name)
    .map(({ dir }) => ({ dir, writtenAt: statSync(join(dir, 'state.json')).mtimeMs }))
    .sort((a, b) => b.writtenAt - a.writtenAt);
  if (found.length === 0) throw new DevClusterError(`no local cluster named "${name}": looked in ${defaultDir} and ${join(temporary, `${name}-*`)}`);
  return found[0]!.dir;
}

function safeRead(dir: string): ReturnType<typeof readClusterState> {
  try {
    return readClusterState(dir);
  } catch {
    return undefined;
  }
}
