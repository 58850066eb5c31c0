// A step run beside another one (the pull beside the drain): awaited once the other has ended,
// or stopped when the other failed. Its failure meanwhile waits for that await, never unhandled.

export interface StepBeside<T> {
  readonly done: Promise<T>;
  /** Ends it, the host going no further, and waits for it to settle. */
  stop(reason: string): Promise<void>;
}

export function startBeside<T>(run: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): StepBeside<T> {
  const stopped = new AbortController();
  const done = run(AbortSignal.any([signal, stopped.signal]));
  done.catch(() => undefined);
  return {
    done,
    async stop(reason) {
      stopped.abort(new Error(reason));
      await done.catch(() => undefined);
    },
  };
}
