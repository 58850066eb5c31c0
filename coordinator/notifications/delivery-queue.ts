// One target's deliveries, sent one at a time in the order they were queued, each tried a
// bounded number of times within a bounded time. The queue is bounded too: a target that
// stays down loses its oldest notifications (each logged), never the coordinator's memory.
// Nothing here ever throws into the caller: a push returns at once.
import { errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { NotificationKind } from '../../shared/contract/notification-config.js';
import { backoff, pause } from '../../shared/contract/waiting.js';
import type { WebhookAnswer, WebhookTransport } from './webhook-transport.js';

export interface DeliveryPolicy {
  /** Deliveries waiting per target; the oldest goes when one more comes. */
  capacity: number;
  /** Pauses between tries: their count plus one is the most tries a delivery gets. */
  delaysMs: readonly number[];
  /** No try starts later than this after the first one. */
  deadlineMs: number;
  /** Each try's own bound, connecting included. */
  timeoutMs: number;
}

/** 5 tries, 2 + 4 + 8 + 16 s apart (or as a 429's Retry-After asks), none starting 60 s after the first; 10 s each. */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  capacity: 100,
  delaysMs: backoff(2_000, 4),
  deadlineMs: 60_000,
  timeoutMs: 10_000,
};

export interface Delivery {
  /** The notification's id, the same on every try. */
  id: string;
  kind: NotificationKind;
  body: string;
  /** The headers of one try, made when it is sent: a signature carries its moment. */
  headers(): Record<string, string>;
}

export interface DeliveryTarget {
  name: string;
  url: URL;
}

export interface DeliveryQueueDeps {
  target: DeliveryTarget;
  transport: WebhookTransport;
  policy: DeliveryPolicy;
  logger: Logger;
  /** Told of each notification that never reached the target: given up on, or dropped from a full queue. */
  onFailed: (target: string, kind: NotificationKind) => void;
  /** Fires when the coordinator stops: a pause or a request under way ends at once. */
  signal: AbortSignal;
  now?: () => number;
}

type TryOutcome = { delivered: true } | { delivered: false; retry: boolean; why: string; retryAfterMs?: number };

export class DeliveryQueue {
  readonly #deps: DeliveryQueueDeps;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #waiting: Delivery[] = [];
  #draining: Promise<void> | undefined;

  constructor(deps: DeliveryQueueDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    // Where it goes without what makes it secret: a Slack webhook's path is its key.
    this.#logger = deps.logger.child({ target: deps.target.name, origin: deps.target.url.origin });
  }

  /** Queues a delivery behind the ones already waiting and returns at once. */
  push(delivery: Delivery): void {
    if (this.#deps.signal.aborted) return;
    if (this.#waiting.length >= this.#deps.policy.capacity) {
      const dropped = this.#waiting.shift();
      if (dropped) {
        this.#logger.warn({ delivery: dropped.id, kind: dropped.kind, capacity: this.#deps.policy.capacity }, 'notification dropped: the target has too many waiting');
        this.#failed(dropped);
      }
    }
    this.#waiting.push(delivery);
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  /** Resolves once nothing is waiting or being sent. */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #drain(): Promise<void> {
    for (let next = this.#waiting.shift(); next; next = this.#waiting.shift()) {
      if (this.#deps.signal.aborted) {
        const unsent = this.#waiting.length + 1;
        this.#waiting.length = 0;
        this.#logger.warn({ unsent }, 'coordinator stopping: notifications not sent');
        return;
      }
      try {
        await this.#deliver(next);
      } catch (error) {
        // #deliver handles its failures; this is the last guard that keeps the queue going.
        this.#logger.error({ err: error, delivery: next.id }, 'notification delivery broke off');
        this.#failed(next);
      }
    }
  }

  async #deliver(delivery: Delivery): Promise<void> {
    const { policy, signal } = this.#deps;
    const first = this.#now();
    const log = this.#logger.child({ delivery: delivery.id, kind: delivery.kind });
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#try(delivery);
      if (outcome.delivered) {
        log.debug({ attempt }, 'notification delivered');
        return;
      }
      if (signal.aborted) {
        log.warn({ attempt, why: outcome.why }, 'coordinator stopping: notification not sent');
        return;
      }
      const delayMs = policy.delaysMs[attempt - 1];
      const waitMs = Math.max(delayMs ?? 0, outcome.retryAfterMs ?? 0);
      const end = !outcome.retry
        ? 'not worth another try'
        : delayMs === undefined
          ? `no tries left after ${attempt}`
          : this.#now() + waitMs - first > policy.deadlineMs
            ? `the next try would start past the ${policy.deadlineMs} ms bound`
            : undefined;
      if (end !== undefined) {
        log.error({ attempt, why: outcome.why }, `notification not delivered: ${end}`);
        this.#failed(delivery);
        return;
      }
      log.warn({ attempt, why: outcome.why, retryInMs: waitMs }, 'notification delivery failed; trying again');
      try {
        await pause(waitMs, signal);
      } catch {
        log.warn({ attempt }, 'coordinator stopping: notification not sent');
        return;
      }
    }
  }

  async #try(delivery: Delivery): Promise<TryOutcome> {
    const { target, transport, policy, signal } = this.#deps;
    let answer: WebhookAnswer;
    try {
      answer = await transport.post({ url: target.url, headers: delivery.headers(), body: delivery.body, timeoutMs: policy.timeoutMs, signal });
    } catch (error) {
      // No answer: refused, reset, timed out. The message names an address at most, never the URL's path.
      return { delivered: false, retry: true, why: errorMessage(error) };
    }
    const { status } = answer;
    if (status >= 200 && status < 300) return { delivered: true };
    const why = `answered ${status}`;
    if (status >= 300 && status < 400) return { delivered: false, retry: false, why: `${why}: redirects are not followed; set the URL it points to` };
    // Too many requests, a timeout on its side, or a server error: it may take it later.
    const retry = status === 429 || status === 408 || status >= 500;
    return { delivered: false, retry, why, ...(answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs }) };
  }

  #failed(delivery: Delivery): void {
    try {
      this.#deps.onFailed(this.#deps.target.name, delivery.kind);
    } catch (error) {
      this.#logger.warn({ err: error }, 'the delivery-failure callback threw');
    }
  }
}
