// The coordinator's one reader of the event stream, over an in-memory log: every open stream
// gets each new event once and in order from a single shared loop; a reader that names the
// last event it saw reads on from there without a gap or a repeat; the number of open
// streams is capped; a reader that stops reading is cut off; stop() ends everything.
import { until } from '../fixtures/poll.js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EventFeed, TooManyEventStreamsError, type EventSubscription } from '../../coordinator/events/event-feed.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import { FIRST_EVENT_ID } from '../../shared/ports/fleet-event-log.js';
import { InMemoryEventLog } from '../fixtures/in-memory-event-log.js';

const silent = pino({ level: 'silent' });
const revoked = (n: number): FleetEvent => ({ kind: 'token.revoked', at: n, actor: 'test', token: { id: `t-${n}` } });
const numberOf = (event: FleetEvent) => (event.kind === 'token.revoked' ? Number(event.token.id.slice(2)) : NaN);
const all = () => true;

let feeds: EventFeed[] = [];
function feedOver(log: InMemoryEventLog, maxStreams?: number): EventFeed {
  // A short wait per read, so a test's loop turns quickly; the feed never depends on it for delivery.
  const feed = new EventFeed({ log, logger: silent, readWaitMs: 200, ...(maxStreams === undefined ? {} : { maxStreams }) });
  feeds.push(feed);
  return feed;
}
afterEach(async () => {
  await Promise.all(feeds.map((feed) => feed.stop()));
  feeds = [];
});

/** Reads until `count` events came (bounded: 5 s), returning their numbers in the order read. */
async function take(subscription: EventSubscription, count: number): Promise<number[]> {
  const got: number[] = [];
  const deadline = Date.now() + 5_000;
  while (got.length < count && Date.now() < deadline) {
    const events = await subscription.next(100);
    if (events === undefined) break;
    got.push(...events.map((stored) => numberOf(stored.event)));
  }
  return got;
}

async function appendAll(log: InMemoryEventLog, from: number, to: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = from; n <= to; n++) ids.push(await log.append(revoked(n)));
  return ids;
}

describe('the event feed', () => {
  it('hands every subscriber each new event once, in order, from one shared read loop', async () => {
    const log = new InMemoryEventLog();
    await appendAll(log, 1, 3);
    const feed = feedOver(log);
    const first = await feed.subscribe({ accepts: all });
    const second = await feed.subscribe({ accepts: all });
    await appendAll(log, 4, 8);

    expect(await take(first, 5)).toEqual([4, 5, 6, 7, 8]);
    expect(await take(second, 5)).toEqual([4, 5, 6, 7, 8]);
    expect(log.openTails).toBe(1);
    expect(feed.open).toBe(2);
  });

  it('resumes after the id a reader names: the events the log still holds, then live ones, none twice', async () => {
    const log = new InMemoryEventLog();
    const ids = await appendAll(log, 1, 5);
    const feed = feedOver(log);
    await (await feed.subscribe({ accepts: all })).next(10);

    const resumed = await feed.subscribe({ since: ids[1]!, accepts: all });
    expect(resumed.trimmed).toBe(false);
    await appendAll(log, 6, 7);
    expect(await take(resumed, 5)).toEqual([3, 4, 5, 6, 7]);
    expect(await resumed.next(50)).toEqual([]);
  });

  it('misses nothing and repeats nothing while a long backlog is read and new events keep coming', async () => {
    const log = new InMemoryEventLog();
    const ids = await appendAll(log, 1, 1_300);
    const feed = feedOver(log);
    const resumed = await feed.subscribe({ since: ids[0]!, accepts: all });
    const writing = appendAll(log, 1_301, 1_500);
    const got = await take(resumed, 1_499);
    await writing;
    expect(got).toEqual(Array.from({ length: 1_499 }, (_, i) => i + 2));
  });

  it('reads from the start with the id 0-0, and applies the filter to old and new events alike', async () => {
    const log = new InMemoryEventLog();
    await appendAll(log, 1, 6);
    const feed = feedOver(log);
    const even = await feed.subscribe({ since: FIRST_EVENT_ID, accepts: (event) => numberOf(event) % 2 === 0 });
    await appendAll(log, 7, 10);
    expect(await take(even, 5)).toEqual([2, 4, 6, 8, 10]);
  });

  it('says when the event a reader names is no longer held (the stream was trimmed past it)', async () => {
    const log = new InMemoryEventLog(10);
    const ids = await appendAll(log, 1, 30);
    const feed = feedOver(log);
    const late = await feed.subscribe({ since: ids[4]!, accepts: all });
    expect(late.trimmed).toBe(true);
    expect(await take(late, 10)).toEqual(Array.from({ length: 10 }, (_, i) => i + 21));
    expect((await feed.subscribe({ since: ids[25]!, accepts: all })).trimmed).toBe(false);
  });

  it('refuses a subscriber past the cap with a clear error, and takes one again once a stream closes', async () => {
    const feed = feedOver(new InMemoryEventLog(), 2);
    const first = await feed.subscribe({ accepts: all });
    await feed.subscribe({ accepts: all });
    const refused = await feed.subscribe({ accepts: all }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TooManyEventStreamsError);
    expect((refused as Error).message).toBe('the coordinator serves at most 2 event streams at once; close another one or try again later');

    first.close();
    expect(await first.next(10)).toBeUndefined();
    expect(feed.open).toBe(1);
    await expect(feed.subscribe({ accepts: all })).resolves.toBeDefined();
  });

  it('cuts off a reader that stops reading, and only that one', async () => {
    const log = new InMemoryEventLog(5_000);
    const feed = feedOver(log);
    const stalled = await feed.subscribe({ accepts: all });
    const reading = await feed.subscribe({ accepts: all });
    const ended: string[] = [];
    stalled.onEnd((reason) => ended.push(reason));
    const reader = take(reading, 2_100);
    await appendAll(log, 1, 2_100);

    expect(await reader).toHaveLength(2_100);
    expect(ended).toEqual(['it fell 2000 events behind']);
    expect(await stalled.next(10)).toBeUndefined();
  });

  it('stop() ends every subscription and the read loop, and refuses new subscribers', async () => {
    const log = new InMemoryEventLog();
    const feed = feedOver(log);
    const open = await feed.subscribe({ accepts: all });
    const waiting = open.next(10_000);
    await feed.stop();
    expect(await waiting).toBeUndefined();
    expect(log.openTails).toBe(0);
    await expect(feed.subscribe({ accepts: all })).rejects.toThrow('the coordinator is stopping');
  });

  it('refuses a subscriber while the log does not answer, and reads on once it answers again', async () => {
    const log = new InMemoryEventLog();
    const feed = feedOver(log);
    log.failWith = new Error('connection refused');
    await expect(feed.subscribe({ accepts: all })).rejects.toThrow('connection refused');
    expect(feed.open).toBe(0);

    log.failWith = undefined;
    const subscription = await feed.subscribe({ accepts: all });
    log.failWith = new Error('connection reset');
    // The loop's read fails and is retried (after 250 ms) until the log answers again: wait for a retry refused.
    const refusedBefore = log.refused;
    await until('the read loop to retry a refused read', () => (log.refused >= refusedBefore + 2 ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 });
    log.failWith = undefined;
    await appendAll(log, 1, 2);
    expect(await take(subscription, 2)).toEqual([1, 2]);
  });
});
