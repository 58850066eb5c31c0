// What the local cluster needs on this machine before it starts anything, each missing
// piece named with the command that provides it.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { errorMessage } from '../shared/contract/errors.js';
import { ClusterContainers } from '../shared/docker/cluster-containers.js';
import { DevClusterError } from './dev-cluster-error.js';
import { CLI } from './sample-app.js';

const BINARIES = ['serf', 'redis-server', 'redis-cli', 'haproxy', 'docker-registry', 'nsenter', 'debootstrap'];

/** Checks root, the binaries and the built CLI, then connects to the Docker engine. */
export async function checkPrerequisites(): Promise<ClusterContainers> {
  if (process.getuid?.() !== 0) throw new DevClusterError('the local cluster needs root (network namespaces and the Docker engine): run it with sudo');
  for (const binary of BINARIES) {
    if (!onPath(binary)) throw new DevClusterError(`${binary} is not installed: run \`sudo bash provisioning/install.sh\` first`);
  }
  if (!existsSync(CLI)) throw new DevClusterError(`${CLI} is missing: run \`npm run build\` first`);
  try {
    return await ClusterContainers.connect();
  } catch (error) {
    throw new DevClusterError(`the Docker engine does not answer (${errorMessage(error)}): run \`sudo bash provisioning/install.sh\` first`, { cause: error });
  }
}

function onPath(binary: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((dir) => {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
