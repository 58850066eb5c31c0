// The fleet bench's child processes: forked from their compiled modules beside this one,
// each with an IPC channel, awaited message by message with a deadline, and stopped by
// the bench (a polite message, then SIGKILL by the child's own id when it lingers).
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TimeoutError } from '../../shared/contract/errors.js';
import { within } from '../../shared/contract/waiting.js';

const EXIT_WAIT_MS = 10_000;

export class ChildChannel<Command, Reply extends { type: string }> {
  readonly process: ChildProcess;
  private readonly waiting: Array<{ type: string; resolve: (reply: Reply) => void; reject: (error: Error) => void }> = [];
  private readonly exited: Promise<void>;
  /** Replies nobody waited for yet (a worker's `finished` before the bench asks), kept by type. */
  private readonly early: Reply[] = [];

  constructor(
    readonly name: string,
    module: string,
    private readonly onUnasked: (reply: Reply) => void = () => undefined,
  ) {
    // Only what a Node process needs: no secret travels in the environment (they go by IPC).
    // GRAPEVINE_BENCH_PROFILE_DIR: workers write a V8 CPU profile there at exit, the coordinator one of the deploy (window-profile.ts).
    const profileDir = process.env.GRAPEVINE_BENCH_PROFILE_DIR;
    const execArgv = profileDir && !module.includes('coordinator') ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
    const env = { PATH: process.env.PATH ?? '', ...(profileDir ? { GRAPEVINE_BENCH_PROFILE_DIR: profileDir } : {}) };
    this.process = fork(fileURLToPath(new URL(module, import.meta.url)), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
    this.exited = new Promise((resolve) => this.process.once('exit', () => resolve()));
    this.process.on('message', (reply: Reply) => this.take(reply));
    this.process.once('exit', (code, signal) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`${name} exited (${signal ?? code}) before it answered ${waiter.type}`));
    });
  }

  send(command: Command): void {
    if (this.process.connected) this.process.send(command as object);
  }

  /** The next reply of `type` (or a `failed` reply, as an error), within `timeoutMs`. */
  next(type: Reply['type'], timeoutMs: number): Promise<Reply> {
    const kept = this.early.findIndex((reply) => reply.type === type);
    if (kept >= 0) return Promise.resolve(this.early.splice(kept, 1)[0] as Reply);
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(new TimeoutError(`${this.name} did not answer ${type} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const waiter = {
        type,
        resolve: (reply: Reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiting.push(waiter);
    });
  }

  private take(reply: Reply): void {
    if (reply.type === 'failed') {
      const message = (reply as unknown as { message: string }).message;
      for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`${this.name}: ${message}`));
      return;
    }
    const index = this.waiting.findIndex((waiter) => waiter.type === reply.type);
    if (index >= 0) {
      this.waiting.splice(index, 1)[0]?.resolve(reply);
      return;
    }
    if (reply.type === 'finished') this.early.push(reply);
    this.onUnasked(reply);
  }

  /** Sends `stop` and waits for the exit; kills the child by its own id if it lingers. */
  async stop(stopCommand: Command): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.send(stopCommand);
    await within(this.exited, EXIT_WAIT_MS);
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGKILL');
      await within(this.exited, EXIT_WAIT_MS);
    }
  }
}
