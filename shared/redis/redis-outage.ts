// A waiting host's slot request (and the read before its first) through a Redis outage. A
// host asks for a slot again and again while it waits; when Redis is gone (killed,
// restarting, failing over) the request times out. Ending the host's part there would turn
// a few seconds without Redis into hosts `errored` and a deploy `partial`: instead it asks
// again, every half second, for up to a minute of outage. Retrying is safe: a grant whose
// answer was lost holds a slot that nobody uses until its lease lapses, which takes a host
// fewer out of service, never more.
import { UnreachableError } from '../contract/errors.js';
import type { Logger } from '../contract/logger.js';
import { pause } from '../contract/waiting.js';

const RETRY_PAUSE_MS = 500;
const GIVE_UP_AFTER_MS = 60_000;

export class RedisOutage {
  #since: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Undefined (ask again) for an unanswered request within the outage's bound; rethrows anything else. */
  async tolerate(error: unknown, signal: AbortSignal, log: Logger): Promise<undefined> {
    if (!(error instanceof UnreachableError) || signal.aborted) throw error;
    const now = this.now();
    if (this.#since === undefined) {
      this.#since = now;
      log.warn({ err: error.message }, 'Redis did not answer the slot request; asking again while it is away');
    } else if (now - this.#since > GIVE_UP_AFTER_MS) {
      throw error;
    }
    await pause(RETRY_PAUSE_MS, signal);
    return undefined;
  }

  /** Redis answered: the next failure starts a new outage. */
  over(): void {
    this.#since = undefined;
  }
}
