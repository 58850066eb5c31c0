// What the local cluster needs on this machine before it starts anything, each missing
// piece named with the command that provides it.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { errorMessage } from '../shared/contract/errors.js';
import { ClusterContainers } from '../shared/docker/cluster-containers.js';
import { DevClusterError } from './dev-cluster-error.js';
import type { ClusterPorts } from './cluster-state.js';
import { isPortFree } from './local-process.js';
import { CLI } from './sample-app.js';

// socat: the HAProxy save-servers script that runs before a reload talks to the runtime socket through it.
const BINARIES = ['serf', 'redis-server', 'redis-cli', 'haproxy', 'socat', 'docker-registry', 'nsenter', 'debootstrap'];

/** Checks root, the binaries, the built CLI and the cluster's ports, then connects to the Docker engine. */
export async function checkPrerequisites(ports: ClusterPorts): Promise<ClusterContainers> {
  if (process.getuid?.() !== 0) throw new DevClusterError('the local cluster needs root (network namespaces and the Docker engine): run it with sudo');
  for (const binary of BINARIES) {
    if (!onPath(binary)) throw new DevClusterError(`${binary} is not installed: run \`sudo bash provisioning/install.sh\` first`);
  }
  if (!existsSync(CLI)) throw new DevClusterError(`${CLI} is missing: run \`npm run build\` first`);
  for (const [service, port] of Object.entries(ports)) {
    if (!(await isPortFree(port))) throw new DevClusterError(`port ${port} (${service}) is already in use: stop whatever listens there (grapevine dev down, if it is an earlier local cluster)`);
  }
  try {
    return await ClusterContainers.connect();
  } catch (error) {
    throw new DevClusterError(`the Docker engine does not answer (${errorMessage(error)}): run \`sudo bash provisioning/install.sh\` first`, { cause: error });
  }
}

/** For a tool only some commands need (iptables for a partition): a clear error naming the package. */
export function requireBinary(binary: string, install: string): void {
  if (!onPath(binary)) throw new DevClusterError(`${binary} is not installed: run \`sudo ${install}\``);
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
