// HAProxy config files in the directory shared with the test HAProxy container: the idle
// config its main process starts with, and one directory per test instance.
import { mkdtemp, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { haproxyConfig } from '../../shared/haproxy/haproxy-config.js';
import { createRoutingFiles } from '../../shared/haproxy/routed-frontend.js';
import { freePort } from '../../dev-cluster/local-process.js';
import { HAPROXY_CONTAINER_DIR } from './infra-contract.js';

const COMMAND_TIMEOUT_MS = 2_000;

export interface HAProxyInstanceFiles {
  /** Host path of the instance's directory. */
  dir: string;
  /** The same directory as the container sees it. */
  containerDir: string;
  /** Host path of the admin socket. */
  runtimeSocket: string;
  url: string;
  /** Each routed frontend's URL, by name. */
  routedUrls: Record<string, string>;
}

/** A frontend routing client versions to clusters (shared/haproxy/routed-frontend.ts); its files live in the instance's directory. */
export interface RoutedFrontendSpec {
  name: string;
  clusters: Array<{ cluster: string; backend: string }>;
}

/** The main process's config (the compose service's command reads haproxy.cfg at the root). */
export async function writeMainConfig(root: string): Promise<void> {
  const port = await freePort();
  const config = haproxyConfig({ frontendBind: `127.0.0.1:${port}`, backends: ['idle'], runtimeSocket: `${HAPROXY_CONTAINER_DIR}/admin.sock` });
  await writeFile(path.join(root, 'haproxy.cfg'), config);
}

/** A new instance's directory with its haproxy.cfg: own frontend port, admin socket and pid file (and access log address, when given). */
export async function writeInstanceConfig(root: string, backends: string[], accessLog?: string, routed: RoutedFrontendSpec[] = []): Promise<HAProxyInstanceFiles> {
  const dir = await mkdtemp(path.join(root, 'instance-'));
  const containerDir = path.posix.join(HAPROXY_CONTAINER_DIR, path.basename(dir));
  const port = await freePort();
  const routedFrontends = [];
  for (const frontend of routed) routedFrontends.push({ ...frontend, bind: `127.0.0.1:${await freePort()}`, dir: containerDir });
  await createRoutingFiles(dir, routed);
  const config = haproxyConfig({
    frontendBind: `127.0.0.1:${port}`,
    backends,
    runtimeSocket: `${containerDir}/admin.sock`,
    pidFile: `${containerDir}/haproxy.pid`,
    ...(accessLog === undefined ? {} : { accessLog }),
    routedFrontends,
  });
  await writeFile(path.join(dir, 'haproxy.cfg'), config);
  const routedUrls = Object.fromEntries(routedFrontends.map(({ name, bind }) => [name, `http://${bind}`]));
  return { dir, containerDir, runtimeSocket: path.join(dir, 'admin.sock'), url: `http://127.0.0.1:${port}`, routedUrls };
}

/** Whether the HAProxy behind `socketPath` answers `show info`. */
export function answersShowInfo(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = net.createConnection(socketPath, () => socket.write('show info\n'));
    socket.setTimeout(COMMAND_TIMEOUT_MS, () => socket.destroy());
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(reply.includes('Name: HAProxy')));
  });
}
