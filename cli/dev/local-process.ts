// Background processes of the local cluster: started detached with their output in a
// log file, and ended later only by the id recorded at start, after checking that the
// id still belongs to the same program.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';

export interface StartedProcess {
  pid: number;
  /** A string the process's command line contains, checked before it is signalled. */
  marker: string;
}

export function startDetached(command: string, args: string[], logFile: string, marker: string): StartedProcess {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    return { pid: child.pid, marker };
  } finally {
    closeSync(log);
  }
}

export function isRunning(process: StartedProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${process.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    // A zombie has finished; only its parent's wait is missing.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.split('\0').join(' ').includes(process.marker);
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(target: StartedProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(target)) return;
  signal(target.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(target)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (isRunning(target)) signal(target.pid, 'SIGKILL');
  const killDeadline = Date.now() + 2_000;
  while (Date.now() < killDeadline && isRunning(target)) await new Promise((resolve) => setTimeout(resolve, 20));
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/**
 * Polls `check` until it returns a value other than undefined, or throws with `what` after
 * `timeoutMs`. A check that throws counts as "not yet": the condition may hinge on a service
 * still coming up, so only the deadline ends the wait, and its error names the last failure.
 */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${detail}`);
}

/** A TCP port nobody listens on right now, as the kernel hands it out. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
