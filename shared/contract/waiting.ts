// The one waiting toolkit. Every pause, poll and retry in Grapevine goes through these
// four, so each wait is bounded in time or count and an AbortSignal cuts it short.
import { TimeoutError, errorMessage } from './errors.js';

/** Waits `ms`; rejects with the signal's reason as soon as `signal` fires. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason as unknown);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as unknown);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface PollOptions {
  timeoutMs: number;
  /** Pause between two checks; 100 ms unless given. */
  intervalMs?: number;
  signal?: AbortSignal;
  /**
   * Whether a check that threw counts as "not yet" (the condition may hinge on a service
   * still coming up) or ends the wait with that error. Every error is "not yet" unless given.
   */
  tolerate?: (error: unknown) => boolean;
}

/**
 * Calls `check` until it returns something other than undefined, and returns that. After
 * `timeoutMs` it throws a TimeoutError naming `what` and the last failure of the check.
 */
export async function pollUntil<T>(what: string, check: () => T | undefined | Promise<T | undefined>, options: PollOptions): Promise<T> {
  const { timeoutMs, intervalMs = 100, signal, tolerate = () => true } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (!tolerate(error)) throw error;
      lastError = error;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const detail = lastError === undefined ? '' : `: ${errorMessage(lastError)}`;
      throw new TimeoutError(`timed out after ${formatMs(timeoutMs)} waiting for ${what}${detail}`, { cause: lastError });
    }
    await pause(Math.min(intervalMs, left), signal);
  }
}

export interface RetryOptions {
  /** The pause before each new try; their count is the number of retries. */
  delaysMs: readonly number[];
  /** Whether a failure is worth another try; every failure is unless given. */
  retryIf?: (error: unknown) => boolean;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `task` until it succeeds, a failure is not worth retrying, or the pauses run out; then throws the last failure. */
export async function retry<T>(task: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { delaysMs, retryIf = () => true, signal, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      const delayMs = delaysMs[attempt - 1];
      if (delayMs === undefined || signal?.aborted || !retryIf(error)) throw error;
      onRetry?.(error, attempt, delayMs);
      await pause(delayMs, signal);
    }
  }
}

/** `count` pauses, from `firstMs` doubling up to `maxMs`: the bounded backoff every retry uses. */
export function backoff(firstMs: number, count: number, maxMs = Number.POSITIVE_INFINITY): number[] {
  return Array.from({ length: count }, (_, i) => Math.min(firstMs * 2 ** i, maxMs));
}

export const TIMED_OUT = Symbol('timed out');

/** Settles like `promise`, or with TIMED_OUT after `ms`; a late rejection is swallowed. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
    timer.unref();
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Settles like `promise`, or rejects with the abort reason at once; a result that arrives later goes to `onLate`. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onLate: (value: T) => void): Promise<T> {
  const abandon = () => promise.then(onLate, () => undefined);
  if (signal.aborted) {
    abandon();
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      abandon();
      reject(signal.reason as unknown);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** A signal that fires when its parent does or its deadline passes; release() ends both watches. */
export interface DeadlineSignal {
  signal: AbortSignal;
  /** Whether the deadline (not the parent) fired it. */
  readonly timedOut: boolean;
  release(): void;
}

/**
 * `parent` with a deadline of `ms`, for a wait that ends by itself: one timer and one
 * listener, both dropped by release(). AbortSignal.any over AbortSignal.timeout does the
 * same with weak references the garbage collector has to track, which cost a host a
 * millisecond of CPU per deploy across its steps.
 */
export function deadlineSignal(parent: AbortSignal, ms: number): DeadlineSignal {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(parent.reason);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new TimeoutError(`deadline of ${ms} ms passed`));
  }, ms);
  timer.unref();
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    release() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}
