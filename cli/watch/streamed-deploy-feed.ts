// `--wait` without re-reading the deploy: the coordinator's event stream filtered to the
// deploy (`GET /v1/events?deploy=ID`) is opened first, then the summary is read once (and the
// reports from before, if any); from there each host report arrives as it is stored, and
// the deploy's end as one event. A dropped stream is opened again with Last-Event-ID, so
// nothing the stream holds is missed; when the stream says events were trimmed, or no id was
// seen yet, a fresh summary tells whether a report was missed (then the reports are read
// again page by page). At the end one summary checks the counts. A coordinator without the
// stream, or one refusing it (too many open), is followed by polling the summary instead.
import { UnauthorizedError, ForbiddenError, NotFoundError, UnreachableError } from '../../shared/contract/errors.js';
import { HostReport, type Deploy } from '../../shared/contract/schemas.js';
import type { DeployFeed, FollowOptions } from './deploy-feed.js';
import { OUTAGE_MS } from './deploy-feed.js';
import type { EventStream, OpenStreamOptions, StreamMessage } from './event-stream.js';
import { FollowReads, type DeploySummaryReader } from './follow-reads.js';
import { FollowState } from './follow-state.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';

export interface EventStreamOpener {
  open(options: OpenStreamOptions): Promise<EventStream>;
}

export interface StreamedFeedOptions {
  /** How often the view is handed the record while events are quiet, so held-back lines and elapsed times move. */
  tickMs?: number;
  /** Summary polls when there is no stream. */
  pollMs?: number;
  outageMs?: number;
  now?: () => number;
  /** Told how the deploy is followed, for figures and tests: `stream`, `poll`, `reconnect`, `resync`. */
  onMode?: (mode: 'stream' | 'poll' | 'reconnect' | 'resync') => void;
}

const TICK_MS = 250;
const POLL_MS = 1_000;

export class StreamedDeployFeed implements DeployFeed {
  readonly #tickMs: number;
  readonly #pollMs: number;
  readonly #outageMs: number;
  readonly #now: () => number;
  readonly #onMode: NonNullable<StreamedFeedOptions['onMode']>;
  /** Requests of the last follow(), the stream's openings included. */
  requests = 0;

  constructor(
    private readonly reader: DeploySummaryReader,
    private readonly streams: EventStreamOpener | undefined,
    options: StreamedFeedOptions = {},
  ) {
    this.#tickMs = options.tickMs ?? TICK_MS;
    this.#pollMs = options.pollMs ?? POLL_MS;
    this.#outageMs = options.outageMs ?? OUTAGE_MS;
    this.#now = options.now ?? Date.now;
    this.#onMode = options.onMode ?? (() => {});
  }

  async follow(id: string, onRecord: (deploy: Deploy) => void, { timeoutMs, signal }: FollowOptions): Promise<Deploy> {
    const reads = new FollowReads(this.reader, id, { deadline: this.#now() + timeoutMs, outageMs: this.#outageMs, now: this.#now, signal });
    let opened = 0;
    let stream: EventStream | undefined;
    try {
      const path = `/v1/events?deploy=${encodeURIComponent(id)}`;
      const open = async (lastEventId?: string) => {
        opened++;
        return this.streams!.open({ path, ...(lastEventId === undefined ? {} : { lastEventId }) });
      };
      // Opened before the summary is read: a report stored after this is on the stream.
      stream = this.streams === undefined ? undefined : await this.#firstStream(open, reads);
      const summary = await reads.summary();
      const state = new FollowState(summary);
      await reads.fillIn(state, summary);
      onRecord(state.deploy());
      if (!state.ended) {
        if (stream === undefined) await this.#poll(state, reads, onRecord);
        else await this.#stream(stream, open, state, reads, onRecord);
      }
      // The end: one summary says whether every report came; if not, they are read again.
      const last = await reads.summary();
      state.refresh(last);
      if (!state.agreesWith(last)) await reads.pages(state);
      return state.deploy();
    } finally {
      // An open stream would hold the CLI open after the deploy ended (one that ended before it looked, too).
      stream?.close();
      this.requests = reads.requests + opened;
    }
  }

  /** The stream, or undefined to poll instead: a coordinator without it (404) or refusing it (503, too many open). */
  async #firstStream(open: () => Promise<EventStream>, reads: FollowReads): Promise<EventStream | undefined> {
    for (;;) {
      try {
        const stream = await open();
        reads.reachable();
        this.#onMode('stream');
        return stream;
      } catch (error) {
        if (error instanceof UnreachableError) {
          reads.noteUnreachable(error);
          await reads.pause(this.#pollMs);
          continue;
        }
        // Not the stream's to say: the summary read next refuses the same way, with the coordinator's words.
        if (error instanceof UnauthorizedError || error instanceof ForbiddenError) throw error;
        if (!(error instanceof NotFoundError) && !isRefusedStream(error)) throw error;
        this.#onMode('poll');
        return undefined;
      }
    }
  }

  /** Reads events until the deploy ends; a dropped stream is opened again where it left off. */
  async #stream(first: EventStream, open: (lastEventId?: string) => Promise<EventStream>, state: FollowState, reads: FollowReads, onRecord: (deploy: Deploy) => void): Promise<void> {
    let stream = first;
    let lastId: string | undefined;
    let pending: Promise<StreamMessage | undefined> | undefined;
    let tick: Promise<typeof TICK> | undefined;
    try {
      // Bounded by the deadline: reads.pause throws past it, and every turn pauses or reads.
      for (;;) {
        pending ??= stream.next();
        if (tick === undefined) {
          tick = reads.pause(this.#tickMs).then((): typeof TICK => TICK);
          // Raced below; left behind when following ends, when only an abort can reject it.
          tick.catch(() => {});
        }
        // The tick first: on a busy stream, whose next message is always ready, the view still gets its turn.
        const message = await Promise.race([tick, pending]);
        if (message === TICK) {
          tick = undefined;
          onRecord(state.deploy());
          continue;
        }
        pending = undefined;
        if (message === undefined) {
          this.#onMode('reconnect');
          stream = await this.#reopen(open, lastId, reads);
          // Without an id the stream could not resume where it was: the summary tells what was missed.
          if (lastId === undefined && (await this.#resync(state, reads))) return;
          continue;
        }
        if (message.id !== undefined) lastId = message.id;
        if (message.event === 'trimmed') {
          if (await this.#resync(state, reads)) return;
          continue;
        }
        applyMessage(state, message);
        if (state.ended) return;
      }
    } finally {
      stream.close();
    }
  }

  async #reopen(open: (lastEventId?: string) => Promise<EventStream>, lastId: string | undefined, reads: FollowReads): Promise<EventStream> {
    for (;;) {
      try {
        const stream = await open(lastId);
        reads.reachable();
        return stream;
      } catch (error) {
        reads.noteUnreachable(error);
        await reads.pause(this.#pollMs);
      }
    }
  }

  /** A fresh summary after a gap; the reports read again when they do not add up to it. True when the deploy ended. */
  async #resync(state: FollowState, reads: FollowReads): Promise<boolean> {
    this.#onMode('resync');
    const summary = await reads.summary();
    state.refresh(summary);
    if (!state.agreesWith(summary)) await reads.pages(state);
    return state.ended;
  }

  /** No stream: the summary every pollMs; the reports again when it changed and fit in one page. */
  async #poll(state: FollowState, reads: FollowReads, onRecord: (deploy: Deploy) => void): Promise<void> {
    // Bounded by the deadline: reads.pause throws past it.
    for (;;) {
      await reads.pause(this.#pollMs);
      const summary = await reads.summary();
      if (!state.agreesWith(summary)) await reads.onePage(state, summary);
      state.refresh(summary);
      onRecord(state.deploy());
      if (state.ended) return;
    }
  }
}

const TICK: unique symbol = Symbol('tick');

/** 503 (the coordinator's cap on open streams) or 400 (a coordinator that knows no such filter): poll instead. */
function isRefusedStream(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'coordinator_error' || code === 'invalid_input';
}

/** One stream message into the state; kinds the follower does not use and malformed data are skipped. */
function applyMessage(state: FollowState, message: StreamMessage): void {
  if (message.event !== 'host.reported' && message.event !== 'deploy.finished' && message.event !== 'promotion.failed') return;
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    return;
  }
  const event = data as { kind?: unknown; report?: unknown; deploy?: { id?: unknown; status?: unknown }; to?: unknown; error?: unknown };
  if (event.kind === 'host.reported') {
    const report = HostReport.safeParse(event.report);
    if (report.success) state.addReport(report.data);
  } else if (event.kind === 'deploy.finished' && event.deploy?.id === state.id && typeof event.deploy.status === 'string') {
    state.apply({ kind: 'deploy.finished', deploy: event.deploy as DeployRecord });
  } else if (event.kind === 'promotion.failed' && typeof event.to === 'string' && typeof event.error === 'string') {
    state.apply({ kind: 'promotion.failed', to: event.to, error: event.error });
  }
}
