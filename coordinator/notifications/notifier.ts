// The fleet-event reader that tells people of rollouts: it turns an event into one
// notification, picks the targets whose role, environment and kinds match, and queues a
// delivery on each. Reading an event only queues: no deploy, request or report ever waits
// for a webhook, however slow or down it is.
import { randomUUID } from 'node:crypto';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { NotificationKind, NotificationTarget } from '../../shared/contract/notification-config.js';
import { TIMED_OUT, within } from '../../shared/contract/waiting.js';
import { DEFAULT_DELIVERY_POLICY, DeliveryQueue, type Delivery, type DeliveryPolicy } from './delivery-queue.js';
import { notificationKindOf, notificationOf, type Notification } from './notification.js';
import { slackMessage } from './slack-message.js';
import { targetWants } from './target-match.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from './webhook-signature.js';
import { HttpWebhookTransport, type WebhookTransport } from './webhook-transport.js';

export interface NotifierDeps {
  targets: readonly NotificationTarget[];
  /** The dashboard's base URL for links: config `publicUrl`, else the coordinator's own, known once it listens. */
  publicUrl: () => string;
  logger: Logger;
  /** Counts a notification that never reached its target (the webhook-failures metric). */
  onDeliveryFailed?: (target: string, kind: NotificationKind) => void;
  transport?: WebhookTransport;
  policy?: DeliveryPolicy;
  now?: () => number;
  newId?: () => string;
}

const USER_AGENT = 'grapevine-coordinator';
/** After the abort, a request or pause under way ends at once: this only covers the unwinding. */
const ABORTED_SETTLE_MS = 500;

export class Notifier {
  readonly #deps: NotifierDeps;
  readonly #logger: Logger;
  readonly #queues = new Map<string, DeliveryQueue>();
  readonly #stopping = new AbortController();
  readonly #now: () => number;

  constructor(deps: NotifierDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#logger = deps.logger.child({ component: 'notifications' });
    const transport = deps.transport ?? new HttpWebhookTransport(this.#now);
    for (const target of deps.targets) {
      this.#queues.set(
        target.name,
        new DeliveryQueue({
          target,
          transport,
          policy: deps.policy ?? DEFAULT_DELIVERY_POLICY,
          logger: this.#logger,
          onFailed: (name, kind) => deps.onDeliveryFailed?.(name, kind),
          signal: this.#stopping.signal,
          now: this.#now,
        }),
      );
    }
  }

  /** The bus reader: queues the event's notification on every target that wants it, and returns. */
  readonly read = (event: FleetEvent): void => {
    if (this.#queues.size === 0 || notificationKindOf(event) === undefined) return;
    const notification = notificationOf(event, { id: (this.#deps.newId ?? randomUUID)(), publicUrl: this.#deps.publicUrl() });
    if (!notification) return;
    for (const target of this.#deps.targets) {
      if (!targetWants(target, notification)) continue;
      this.#queues.get(target.name)?.push(this.#delivery(target, notification));
    }
  };

  /** Gives the queues up to `graceMs` to send what they hold, then ends every try and pause at once. */
  async stop(graceMs: number): Promise<void> {
    const idle = Promise.all([...this.#queues.values()].map((queue) => queue.idle()));
    if ((await within(idle, graceMs)) === TIMED_OUT) this.#logger.warn({ graceMs }, 'stopping with notifications still to send');
    this.#stopping.abort(new Error('the coordinator is stopping'));
    await within(idle, ABORTED_SETTLE_MS);
  }

  #delivery(target: NotificationTarget, notification: Notification): Delivery {
    const body = JSON.stringify(target.type === 'slack' ? slackMessage(notification) : notification);
    const { id, kind } = notification;
    const { secret } = target;
    return {
      id,
      kind,
      body,
      headers: () => {
        const headers: Record<string, string> = {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          [DELIVERY_HEADER]: id,
          [EVENT_HEADER]: kind,
        };
        if (secret === undefined) return headers;
        const timestamp = Math.floor(this.#now() / 1000);
        return { ...headers, [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body) };
      },
    };
  }
}
