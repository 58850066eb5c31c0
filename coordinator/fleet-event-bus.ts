// Hands each fleet event to every reader of it (the event stream, the audit log, the
// notifier, the metrics) without ever holding up the request or the report that made it:
// publishing returns at once, each reader runs after, and a reader that throws or is slow
// is logged and harms neither the caller nor the other readers.
import type { Logger } from '../shared/contract/logger.js';
import type { FleetEvent } from '../shared/contract/fleet-events.js';

export type FleetEventReader = (event: FleetEvent) => void | Promise<void>;

export interface FleetEventPublisher {
  publish(event: FleetEvent): void;
}

export class FleetEventBus implements FleetEventPublisher {
  readonly #readers: { name: string; read: FleetEventReader }[] = [];
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();

  constructor(logger: Logger) {
    this.#logger = logger.child({ component: 'fleet-events' });
  }

  /** Adds a reader; `name` says which one failed in the log. */
  subscribe(name: string, read: FleetEventReader): void {
    this.#readers.push({ name, read });
  }

  publish(event: FleetEvent): void {
    for (const { name, read } of this.#readers) {
      const running = Promise.resolve()
        .then(() => read(event))
        .catch((error: unknown) => this.#logger.warn({ err: error, reader: name, kind: event.kind }, 'a fleet event reader failed'));
      this.#pending.add(running);
      void running.finally(() => this.#pending.delete(running));
    }
  }

  /** Resolves once every reader has taken the events published so far (tests, and a clean stop). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
