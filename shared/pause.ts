// A wait that an abort cuts short: retry and poll loops pause with it so that a host
// standing down never sits out the rest of a pause.

/** Waits `ms`, or less when `signal` fires; never rejects. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
