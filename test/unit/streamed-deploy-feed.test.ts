// How `--wait` follows a deploy through its events, with a scripted coordinator: the summary
// once and the stream after it; a dropped stream opened again with the last id it saw; a
// stream that lost reports made good from a summary and the pages; no stream at all polled
// through the summary; an outage ridden out for OUTAGE_MS and no longer.
import { describe, expect, it } from 'vitest';
import type { DeploySummary, HostReportPage } from '../../shared/contract/deploy-views.js';
import { NotFoundError, UnreachableError } from '../../shared/contract/errors.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import type { EventStream, OpenStreamOptions, StreamMessage } from '../../cli/watch/event-stream.js';
import { StreamedDeployFeed } from '../../cli/watch/streamed-deploy-feed.js';

const createdAt = 1_700_000_000_000;
const id = 'd-stream01';

/** The coordinator's side: its deploy, as reports are stored one by one. */
class ScriptedCoordinator {
  status: Deploy['status'] = 'in_progress';
  readonly hosts: Record<string, HostReport> = {};
  readonly calls: string[] = [];
  unreachable = 0;

  store(report: HostReport): StreamMessage {
    this.hosts[report.host] = report;
    return { id: `${createdAt}-${Object.keys(this.hosts).length}`, event: 'host.reported', data: JSON.stringify({ kind: 'host.reported', report, deploy: { id } }) };
  }

  finish(): StreamMessage {
    this.status = 'succeeded';
    return { id: `${createdAt}-99`, event: 'deploy.finished', data: JSON.stringify({ kind: 'deploy.finished', deploy: this.record() }) };
  }

  record() {
    return { id, role: 'web', env: 'production', tag: 'v2', image: 'r/web:v2', status: this.status, createdAt, targets: ['h1', 'h2', 'h3'] };
  }

  async getSummary(): Promise<DeploySummary> {
    this.calls.push('summary');
    if (this.unreachable > 0) {
      this.unreachable--;
      throw new UnreachableError('coordinator down');
    }
    const counts: DeploySummary['counts'] = {};
    for (const r of Object.values(this.hosts)) counts[r.state] = (counts[r.state] ?? 0) + 1;
    return { ...this.record(), targetCount: 3, reported: Object.keys(this.hosts).length, counts };
  }

  async getDeploy(): Promise<Deploy> {
    this.calls.push('deploy');
    return { ...this.record(), hosts: { ...this.hosts } };
  }

  async hostReports(): Promise<HostReportPage> {
    this.calls.push('hosts');
    return { hosts: Object.values(this.hosts) };
  }
}

/** A stream handing out each message as its step makes it (the coordinator storing a report then), then ending (a dropped connection) when `drop` is set, else staying open. */
class ScriptedStream implements EventStream {
  endedBy: string | undefined;
  constructor(private readonly steps: Array<() => StreamMessage>, private readonly drop: boolean) {}
  async next(): Promise<StreamMessage | undefined> {
    const message = this.steps.shift()?.();
    if (message !== undefined) return message;
    if (this.drop) return undefined;
    return new Promise(() => {});
  }
  closed = false;
  close(): void {
    this.closed = true;
  }
}

const report = (host: string, state: HostReport['state'], at: number): HostReport => ({ host, state, steps: [{ step: 'received', at: createdAt + at }] });

describe('following a deploy through its events', () => {
  it('reads the summary once, then takes every report and the end from the stream', async () => {
    const coordinator = new ScriptedCoordinator();
    const opened: OpenStreamOptions[] = [];
    const streams = {
      open: async (options: OpenStreamOptions) => {
        opened.push(options);
        const c = coordinator;
        return new ScriptedStream([() => c.store(report('h1', 'succeeded', 10)), () => c.store(report('h2', 'succeeded', 20)), () => c.store(report('h3', 'succeeded', 30)), () => c.finish()], false);
      },
    };
    const seen: number[] = [];
    const feed = new StreamedDeployFeed(coordinator, streams, { tickMs: 5 });
    const final = await feed.follow(id, (deploy) => seen.push(Object.keys(deploy.hosts).length), { timeoutMs: 5_000 });
    expect(final.status).toBe('succeeded');
    expect(Object.keys(final.hosts).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(opened).toEqual([{ path: `/v1/events?deploy=${id}` }]);
    // One summary at the start, one at the end: never the whole record.
    expect(coordinator.calls).toEqual(['summary', 'summary']);
    expect(feed.requests).toBe(3);
  });

  it('opens a dropped stream again with the last id it saw, and reads nothing else', async () => {
    const coordinator = new ScriptedCoordinator();
    const opened: Array<string | undefined> = [];
    const modes: string[] = [];
    const ids: string[] = [];
    const c = coordinator;
    const seen = (message: StreamMessage) => (ids.push(message.id!), message);
    const streams = {
      open: async (options: OpenStreamOptions) => {
        opened.push(options.lastEventId);
        if (opened.length === 1) return new ScriptedStream([() => seen(c.store(report('h1', 'succeeded', 10))), () => seen(c.store(report('h2', 'succeeded', 20)))], true);
        return new ScriptedStream([() => c.store(report('h3', 'succeeded', 30)), () => c.finish()], false);
      },
    };
    const final = await new StreamedDeployFeed(coordinator, streams, { tickMs: 5, pollMs: 1, onMode: (m) => modes.push(m) }).follow(id, () => {}, { timeoutMs: 5_000 });
    expect(Object.keys(final.hosts).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(opened).toEqual([undefined, ids[1]]);
    expect(modes).toEqual(['stream', 'reconnect']);
    expect(coordinator.calls).toEqual(['summary', 'summary']);
  });

  it('reads the reports again when a gap in the stream lost some (the stream says trimmed)', async () => {
    const coordinator = new ScriptedCoordinator();
    const streams = {
      open: async () => {
        // Stored while the stream was away, and trimmed from it: only the pages have them.
        coordinator.store(report('h1', 'succeeded', 10));
        coordinator.store(report('h2', 'failed', 20));
        return new ScriptedStream([() => ({ event: 'trimmed', data: '{}' }), () => coordinator.store(report('h3', 'cancelled', 30)), () => coordinator.finish()], false);
      },
    };
    const final = await new StreamedDeployFeed(coordinator, streams, { tickMs: 5 }).follow(id, () => {}, { timeoutMs: 5_000 });
    expect(Object.fromEntries(Object.values(final.hosts).map((r) => [r.host, r.state]))).toEqual({ h1: 'succeeded', h2: 'failed', h3: 'cancelled' });
  });

  it('polls the summary, with one page of reports when it changed, where the coordinator has no stream', async () => {
    const coordinator = new ScriptedCoordinator();
    const modes: string[] = [];
    const streams = { open: async () => Promise.reject(new NotFoundError('no route GET /v1/events')) };
    let polls = 0;
    const original = coordinator.getSummary.bind(coordinator);
    coordinator.getSummary = async () => {
      polls++;
      if (polls === 3) coordinator.store(report('h1', 'succeeded', 10));
      if (polls === 4) {
        coordinator.store(report('h2', 'succeeded', 20));
        coordinator.store(report('h3', 'succeeded', 30));
        coordinator.finish();
      }
      return original();
    };
    const final = await new StreamedDeployFeed(coordinator, streams, { pollMs: 1, onMode: (m) => modes.push(m) }).follow(id, () => {}, { timeoutMs: 5_000 });
    expect(modes).toEqual(['poll']);
    expect(final.status).toBe('succeeded');
    expect(Object.keys(final.hosts).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(coordinator.calls).not.toContain('deploy');
  });

  it('rides out an unreachable coordinator for the outage window, and gives up with its error after', async () => {
    const coordinator = new ScriptedCoordinator();
    coordinator.unreachable = 2;
    const streams = { open: async () => new ScriptedStream([() => coordinator.finish()], false) };
    const final = await new StreamedDeployFeed(coordinator, streams, { tickMs: 5 }).follow(id, () => {}, { timeoutMs: 5_000 });
    expect(final.status).toBe('succeeded');

    let now = 0;
    const down = { open: async () => ((now += 10_000), Promise.reject(new UnreachableError('coordinator at http://a:7700 is unreachable'))) };
    const feed = new StreamedDeployFeed(new ScriptedCoordinator(), down, { pollMs: 1, outageMs: 30_000, now: () => now });
    await expect(feed.follow(id, () => {}, { timeoutMs: 600_000 })).rejects.toThrow(/coordinator at http:\/\/a:7700 is unreachable/);
    expect(now).toBeGreaterThanOrEqual(30_000);
    expect(now).toBeLessThanOrEqual(50_000);
  });

  it('closes the stream when the deploy had ended before it looked, so the command can exit', async () => {
    const coordinator = new ScriptedCoordinator();
    coordinator.store(report('h1', 'succeeded', 10));
    coordinator.finish();
    const stream = new ScriptedStream([], false);
    const final = await new StreamedDeployFeed(coordinator, { open: async () => stream }).follow(id, () => {}, { timeoutMs: 5_000 });
    expect(final.status).toBe('succeeded');
    expect(final.hosts.h1?.state).toBe('succeeded');
    expect(stream.closed).toBe(true);
  });

  it('hands the view the deploy every tick while a busy stream never pauses', async () => {
    const coordinator = new ScriptedCoordinator();
    const steps = Array.from({ length: 3_000 }, (_, n) => () => coordinator.store(report(`sim-${n}`, 'waiting', n)));
    // Each message comes as network data does: a turn of the event loop apart, never a quiet moment.
    const busy = new ScriptedStream([...steps, () => coordinator.finish()], false);
    const next = busy.next.bind(busy);
    busy.next = () => new Promise((resolve) => setImmediate(() => resolve(next())));
    const seen: number[] = [];
    const feed = new StreamedDeployFeed(coordinator, { open: async () => busy }, { tickMs: 2 });
    await feed.follow(id, (deploy) => seen.push(Object.keys(deploy.hosts).length), { timeoutMs: 30_000 });
    expect(seen.filter((hosts) => hosts > 0 && hosts < 3_000).length).toBeGreaterThan(0);
  });

  it('ends at once on a refusal', async () => {
    const coordinator = new ScriptedCoordinator();
    coordinator.getSummary = async () => Promise.reject(new NotFoundError(`no deploy ${id}`));
    const streams = { open: async () => Promise.reject(new NotFoundError(`no deploy ${id}`)) };
    await expect(new StreamedDeployFeed(coordinator, streams).follow(id, () => {}, { timeoutMs: 5_000 })).rejects.toThrow(`no deploy ${id}`);
  });
});
