// Appends to one Redis stream (the fleet's event stream, the audit log), gathered for a few
// milliseconds and sent as one pipeline. A fleet's reports make several appends a host (its
// event, and its slot's audit entries), and each sent alone is a write, a wake-up of Redis
// and a read of its reply: most of what a report cost the coordinator after its own work.
// Gathered over WINDOW_MS, a thousand-host deploy sends several appends a write. The order
// of the calls is the order in Redis: a window's commands go in call order, and each window
// is sent (on the one connection) before the next one opens. One key per window, so a Redis
// Cluster takes the pipeline whole.
import type { RedisClient } from './connection.js';

/** Long enough to gather a burst of reports, short against any reader's wait (a dashboard, `--wait`). */
export const WINDOW_MS = 10;
/** A window this full goes at once. */
const MAX_COMMANDS = 256;

type Pipeline = ReturnType<RedisClient['pipeline']>;
type Reply = [error: Error | null, result: unknown];

interface Window {
  pipeline: Pipeline;
  commands: number;
  timer: NodeJS.Timeout;
  waiters: Array<{ from: number; to: number; resolve: (results: unknown[]) => void; reject: (error: unknown) => void }>;
}

export class AppendWindow {
  readonly #redis: RedisClient;
  readonly #windowMs: number;
  #open: Window | undefined;

  constructor(redis: RedisClient, windowMs = WINDOW_MS) {
    this.#redis = redis;
    this.#windowMs = windowMs;
  }

  /**
   * Adds commands to the open window (`add` adds them to its pipeline and says how many);
   * resolves with their results once the window is sent, or rejects with the first error
   * among them (or the pipeline's own).
   */
  queue(add: (pipeline: Pipeline) => number): Promise<unknown[]> {
    const window = (this.#open ??= this.#opened());
    const from = window.commands;
    window.commands += add(window.pipeline);
    const replies = new Promise<unknown[]>((resolve, reject) => window.waiters.push({ from, to: window.commands, resolve, reject }));
    if (window.commands >= MAX_COMMANDS) this.#send(window);
    return replies;
  }

  #opened(): Window {
    const window: Window = { pipeline: this.#redis.pipeline(), commands: 0, waiters: [], timer: setTimeout(() => this.#send(window), this.#windowMs) };
    return window;
  }

  #send(window: Window): void {
    clearTimeout(window.timer);
    if (this.#open === window) this.#open = undefined;
    window.pipeline.exec().then(
      (replies) => {
        for (const { from, to, resolve, reject } of window.waiters) settle(replies?.slice(from, to) ?? [], to - from, resolve, reject);
      },
      (error: unknown) => {
        for (const { reject } of window.waiters) reject(error);
      },
    );
  }
}

function settle(replies: Reply[], expected: number, resolve: (results: unknown[]) => void, reject: (error: unknown) => void): void {
  if (replies.length !== expected) return reject(new Error(`Redis answered ${replies.length} of ${expected} commands`));
  const failed = replies.find(([error]) => error !== null);
  if (failed) return reject(failed[0]);
  resolve(replies.map(([, result]) => result));
}
