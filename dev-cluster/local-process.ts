// Background processes of the local cluster: started detached with their output in a
// log file, and ended later only by the id recorded at start, after checking that the
// id still belongs to the same program.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { TimeoutError } from '../shared/contract/errors.js';
import { INHERITED_ENV, inheritedEnv } from '../shared/contract/inherited-env.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { DevClusterError } from './dev-cluster-error.js';

export interface StartedProcess {
  pid: number;
  /** A string the process's command line contains, checked before it is signalled. */
  marker: string;
}

/**
 * Each process reads its settings from its own config file only: none inherits the caller's
 * environment (a CLI run with GRAPEVINE_TOKEN, the operator's, would otherwise override a
 * restarted agent's own host credential).
 */
export function startDetached(command: string, args: string[], logFile: string, marker: string): StartedProcess {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env: inheritedEnv(INHERITED_ENV, process.env) });
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

/**
 * Whether the id still names a live process, whatever its command line: right after a start
 * (nsenter executing node) or during HAProxy's re-exec on a reload, the kernel briefly shows
 * an empty command line, so the marker check of `isRunning` fits only a process at rest.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(target: StartedProcess, graceMs = 5_000): Promise<void> {
  if (!isRunning(target)) return;
  signal(target.pid, 'SIGTERM');
  if (await gone(target, graceMs, 50)) return;
  signal(target.pid, 'SIGKILL');
  await gone(target, 2_000, 20);
}

/** SIGKILL, as a crash would end it; false when it was not running. Resolves once it is gone. */
export async function killProcess(target: StartedProcess): Promise<boolean> {
  if (!isRunning(target)) return false;
  signal(target.pid, 'SIGKILL');
  if (!(await gone(target, 2_000, 20))) throw new DevClusterError(`process ${target.pid} still runs 2 s after SIGKILL`);
  return true;
}

/** Sends `name` to the process if it is still the one recorded; false when it was not running. */
export function signalProcess(target: StartedProcess, name: NodeJS.Signals): boolean {
  if (!isRunning(target)) return false;
  signal(target.pid, name);
  return true;
}

/** The ids of the process's children, as the kernel lists them; empty when it is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether the process ends within `timeoutMs`. */
async function gone(target: StartedProcess, timeoutMs: number, intervalMs: number): Promise<boolean> {
  try {
    return await pollUntil(`process ${target.pid} to end`, () => (isRunning(target) ? undefined : true), { timeoutMs, intervalMs });
  } catch (error) {
    if (error instanceof TimeoutError) return false;
    throw error;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

export { freePort, isPortFree } from './free-port.js';
