// The test HAProxy is one master-worker process in the compose project; a test gets a fresh
// HAProxy by writing its config (from shared/haproxy/haproxy-config.ts) and asking the master
// to reload, so every instance has its own frontend port and runtime socket directory.
import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { haproxyConfig } from '../../shared/haproxy/haproxy-config.js';
import { pollUntil } from '../../shared/contract/waiting.js';
import { freePort } from '../../dev-cluster/local-process.js';
import { HAPROXY_CONTAINER_DIR } from './infra-contract.js';

const CONFIG_FILE = 'haproxy.cfg';
const MASTER_SOCKET = 'master.sock';
const INSTANCE_PREFIX = 'instance-';
const COMMAND_TIMEOUT_MS = 2_000;
const RELOAD_TIMEOUT_MS = 10_000;

export interface HAProxyInstanceConfig {
  /** Host path of this instance's directory under the shared directory. */
  dir: string;
  /** Host path of the admin socket. */
  runtimeSocket: string;
  url: string;
}

/** Writes the config of a new instance as the one the master loads next. */
export async function writeInstanceConfig(root: string, backends: string[]): Promise<HAProxyInstanceConfig> {
  const dir = await mkdtemp(path.join(root, INSTANCE_PREFIX));
  const port = await freePort();
  const inContainer = path.posix.join(HAPROXY_CONTAINER_DIR, path.basename(dir), 'admin.sock');
  const config = haproxyConfig({ frontendBind: `127.0.0.1:${port}`, backends, runtimeSocket: inContainer });
  // Renamed into place: the master never reads a half-written file.
  const next = path.join(root, `${CONFIG_FILE}.next`);
  await writeFile(next, config);
  await rename(next, path.join(root, CONFIG_FILE));
  return { dir, runtimeSocket: path.join(dir, 'admin.sock'), url: `http://127.0.0.1:${port}` };
}

/**
 * Reloads the master into `instance` (already written) and waits for its worker to answer on
 * the instance's socket; the directories of earlier instances are removed.
 */
export async function reloadInto(root: string, instance: HAProxyInstanceConfig): Promise<void> {
  const master = path.join(root, MASTER_SOCKET);
  // Right after a reload the master may still be re-executing and refuse the connection.
  await pollUntil('the HAProxy master to take a reload', async () => ((await send(master, 'reload', { reply: false })) === '' ? true : undefined), {
    timeoutMs: RELOAD_TIMEOUT_MS,
    intervalMs: 20,
  });
  try {
    await pollUntil(`the reloaded HAProxy to answer on ${instance.runtimeSocket}`, async () => ((await answersShowInfo(instance.runtimeSocket)) ? true : undefined), {
      timeoutMs: RELOAD_TIMEOUT_MS,
      intervalMs: 20,
    });
  } catch (error) {
    const processes = await send(master, 'show proc', { reply: true }).catch((cause: unknown) => `(master CLI: ${String(cause)})`);
    throw new Error(`${String(error)}; the master's processes (a failed reload keeps the old worker):\n${processes}`, { cause: error });
  }
  await removeInstancesBut(root, instance.dir);
}

/** Whether the worker behind `socketPath` answers `show info` as HAProxy. */
export async function answersShowInfo(socketPath: string): Promise<boolean> {
  const reply = await send(socketPath, 'show info', { reply: true }).catch(() => '');
  return reply.includes('Name: HAProxy');
}

async function removeInstancesBut(root: string, keep: string): Promise<void> {
  const entries = await readdir(root);
  const stale = entries.filter((name) => name.startsWith(INSTANCE_PREFIX) && path.join(root, name) !== keep);
  await Promise.all(stale.map((name) => rm(path.join(root, name), { recursive: true, force: true })));
}

/**
 * Sends one command line. With `reply`, resolves with everything read until HAProxy closes
 * the connection; without, once the line is written (the master re-executes on `reload`
 * and leaves the connection open).
 */
function send(socketPath: string, command: string, options: { reply: boolean }): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = net.createConnection(socketPath, () => {
      socket.write(`${command}\n`, () => {
        if (!options.reply) {
          socket.destroy();
          resolve('');
        }
      });
    });
    socket.setTimeout(COMMAND_TIMEOUT_MS, () => socket.destroy(new Error(`no answer to '${command}' on ${socketPath} within ${COMMAND_TIMEOUT_MS} ms`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(reply));
  });
}
