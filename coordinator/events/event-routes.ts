// `GET /v1/events` (viewer and above): the fleet's events as server-sent events, one per
// event: `id:` its stream id, `event:` its kind, `data:` the FleetEvent as JSON. Filters:
// `?deploy=ID`, `?role=R`, `?env=E`. A reader that reconnects sends `Last-Event-ID` (a
// browser's EventSource does) or `?since=ID` and gets every event after it that the stream
// still holds; an `event: trimmed` first says when some may be gone. A comment every 15 s
// keeps proxies from closing a quiet stream.
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import * as z from 'zod';
import { NotFoundError, ValidationError, errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import { deployId, envName, roleName } from '../../shared/contract/names.js';
import { FIRST_EVENT_ID, isEventId } from '../../shared/ports/fleet-event-log.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import { valid } from '../../shared/http/request-validation.js';
import { allow, type CoordinatorEnv } from '../auth/authenticate.js';
import { scopeAllows } from '../auth/scopes.js';
import { TooManyEventStreamsError, type EventFeed } from './event-feed.js';
import { eventMatches, type EventFilter } from './event-filter.js';

/** A quiet stream gets a comment this often: proxies and load balancers close idle connections. */
export const HEARTBEAT_MS = 15_000;
/** How soon a browser reconnects after the stream ends (a coordinator restart): its `retry:`. */
const RECONNECT_MS = 2_000;
/** Told to a client refused for the cap: by then some stream has likely closed. */
const RETRY_AFTER_S = 10;

const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);
const EventsQuery = z.object({
  deploy: z.preprocess(emptyAsMissing, deployId.optional()),
  role: z.preprocess(emptyAsMissing, roleName.optional()),
  env: z.preprocess(emptyAsMissing, envName.optional()),
  since: z.preprocess(emptyAsMissing, z.string().optional()),
});

export interface EventRouteDeps {
  feed: EventFeed;
  store: DeployStore;
  logger: Logger;
  heartbeatMs?: number;
}

export function registerEventRoutes(app: Hono<CoordinatorEnv>, { feed, store, logger, heartbeatMs = HEARTBEAT_MS }: EventRouteDeps): void {
  const log = logger.child({ component: 'event-stream' });

  app.get('/v1/events', allow('viewer'), valid('query', EventsQuery), async (c) => {
    const query = c.req.valid('query');
    // The header wins: a browser resends it with the last id it got, while the URL keeps the first `since`.
    const since = eventIdFrom(c.req.header('last-event-id'), 'the Last-Event-ID header') ?? eventIdFrom(query.since, 'since');
    const filter: EventFilter = { operator: scopeAllows(c.get('credential').scope, ['operator']) };
    if (query.deploy !== undefined) {
      const deploy = await store.getDeploy(query.deploy);
      if (!deploy) throw new NotFoundError(`no deploy ${query.deploy}`);
      filter.deploy = { id: deploy.id, role: deploy.role, tag: deploy.tag };
    }
    if (query.role !== undefined) filter.role = query.role;
    if (query.env !== undefined) filter.env = query.env;

    let subscription;
    try {
      subscription = await feed.subscribe({ ...(since === undefined ? {} : { since }), accepts: (event) => eventMatches(event, filter) });
    } catch (error) {
      if (!(error instanceof TooManyEventStreamsError)) throw error;
      log.warn({ open: feed.open }, 'event stream refused: too many open');
      c.header('Retry-After', String(RETRY_AFTER_S));
      return c.json({ error: { code: error.code, message: error.message } }, 503);
    }
    const opened = subscription;
    // Proxies that buffer responses (nginx) would hold the events back.
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => opened.close());
      // A write held up by a reader that stopped reading would keep this stream open for ever.
      opened.onEnd(() => {
        if (!stream.closed) stream.abort();
      });
      try {
        await stream.write(`retry: ${RECONNECT_MS}\n\n`);
        if (opened.trimmed) {
          const message = `the stream no longer holds event ${since}: some events after it may be missing`;
          await stream.writeSSE({ event: 'trimmed', data: JSON.stringify({ since, message }) });
        }
        // Ends when the reader goes, is cut off as too slow, or the coordinator stops.
        for (;;) {
          const events = await opened.next(heartbeatMs);
          if (events === undefined) break;
          if (events.length === 0) await stream.write(': keep-alive\n\n');
          for (const { id, event } of events) await stream.writeSSE({ id, event: event.kind, data: JSON.stringify(event) });
        }
      } catch (error) {
        // Redis failed while the backlog was read: the reader reconnects and reads on from its last id.
        log.warn({ err: errorMessage(error) }, 'event stream ended by an error');
      } finally {
        opened.close();
      }
    });
  });
}

/** `0` reads everything the stream holds; otherwise an id as the stream gives them. */
function eventIdFrom(value: string | undefined, what: string): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const id = value.trim();
  if (id === '0') return FIRST_EVENT_ID;
  if (!isEventId(id)) throw new ValidationError(`${what} must be an event id such as 1700000000000-0 (the id: of an event received), or 0 for everything the stream holds; got ${JSON.stringify(id.slice(0, 60))}`);
  return id;
}
