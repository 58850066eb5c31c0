// A host's reports reach the coordinator once it takes them: kept through failures until
// acknowledged, within the deploy's deadline, and not pressed on a coordinator that refuses.
import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ProgressReporter, SETTLE_MS, REPORT_SPACING_MS, type ReportSink } from '../../agent/deploy/progress-reporter.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { GrapevineError, UnreachableError, ValidationError } from '../../shared/contract/errors.js';
import { pollUntil } from '../../shared/contract/waiting.js';

const logger = pino({ level: 'silent' });
const report = (state: HostReport['state']): HostReport => ({ host: 'h1', state, steps: [] });

/** A coordinator that fails each call with the next of `failures`, then accepts. */
function flakySink(failures: Error[]) {
  const tried: string[] = [];
  const accepted: HostReport[] = [];
  const sink: ReportSink = {
    async report(_id, sent) {
      tried.push(sent.state);
      const failure = failures.shift();
      if (failure) throw failure;
      accepted.push(sent);
    },
  };
  return { sink, tried, accepted };
}

const down = () => new UnreachableError('coordinator at http://127.0.0.1:7700 did not answer (connect ECONNREFUSED)');

describe('progress reporter', () => {
  it('keeps the final report through 12 failures until the coordinator takes it', async () => {
    const { sink, tried, accepted } = flakySink([...Array.from({ length: 11 }, down), new GrapevineError('coordinator_error', 'answered 500')]);
    const reporter = new ProgressReporter(sink, 'd-test01', logger, {
      deadlineAt: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
      delaysMs: Array.from({ length: 50 }, () => 0),
    });
    await reporter.finish(report('succeeded'));
    expect(tried).toHaveLength(13);
    expect(accepted).toEqual([report('succeeded')]);
  });

  it('sends the latest report instead of an older one it was still retrying', async () => {
    let open = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const tried: string[] = [];
    let calls = 0;
    const sink: ReportSink = {
      async report(_id, sent) {
        tried.push(sent.state);
        if (++calls === 1) {
          await gate;
          throw down();
        }
      },
    };
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal, delaysMs: [0, 0, 0] });
    // Out of service: news that goes at once.
    reporter.update({ ...report('deploying'), steps: [{ step: 'pull', at: 1 }] });
    const finished = reporter.finish(report('succeeded'));
    open();
    await finished;
    expect(tried).toEqual(['deploying', 'succeeded']);
  });

  it('does not press a coordinator that refuses the report', async () => {
    const { sink, tried, accepted } = flakySink([new ValidationError('body: state invalid')]);
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal, delaysMs: [0, 0, 0] });
    await reporter.finish(report('succeeded'));
    expect(tried).toEqual(['succeeded']);
    expect(accepted).toEqual([]);
  });

  it("gives up once the deploy's deadline has passed", async () => {
    let clock = 0;
    const { sink, tried, accepted } = flakySink(Array.from({ length: 100 }, down));
    const reporter = new ProgressReporter(sink, 'd-test01', logger, {
      deadlineAt: 5_000,
      signal: new AbortController().signal,
      delaysMs: Array.from({ length: 100 }, () => 0),
      now: () => (clock += 1_000),
    });
    await reporter.finish(report('succeeded'));
    expect(tried.length).toBeGreaterThan(1);
    expect(tried.length).toBeLessThan(10);
    expect(accepted).toEqual([]);
  });

  it('stops trying when the agent stops', async () => {
    const stop = new AbortController();
    const { sink, tried } = flakySink(Array.from({ length: 100 }, down));
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: stop.signal, delaysMs: [60_000] });
    const finished = reporter.finish(report('cancelled'));
    stop.abort(new Error('agent stopping'));
    await finished;
    expect(tried).toEqual(['cancelled']);
  });

  it('holds back new steps of the same state, and sends a new state and the final report at once', async () => {
    const { sink, tried } = flakySink([]);
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal, spacingMs: 60_000 });
    const deploying = (step: 'drain' | 'up'): HostReport => ({ ...report('deploying'), steps: [{ step, at: 1 }] });
    // A host starts out waiting: saying so again can wait.
    reporter.update(report('waiting'));
    // A new state goes at once, and carries what was held.
    reporter.update(deploying('drain'));
    await pollUntil('the new state', () => (tried.length === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    // New steps of the same state wait, each replacing the one before.
    reporter.update(deploying('up'));
    reporter.update(deploying('up'));
    expect(tried).toEqual(['deploying']);
    // The final report cuts the wait short and goes alone: the held progress is superseded.
    await reporter.finish(report('succeeded'));
    expect(tried).toEqual(['deploying', 'succeeded']);
  });

  it('sends held steps once the spacing has passed', async () => {
    const sent: HostReport[] = [];
    const sink: ReportSink = { report: async (_id, r) => void sent.push(r) };
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal, spacingMs: 50 });
    // Still waiting after the spacing: it says so.
    reporter.update(report('waiting'));
    await pollUntil('the waiting report', () => (sent.length === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    sent.length = 0;
    // The slot waits for the drain; out of service, both go as one report.
    reporter.update({ ...report('deploying'), slot: 1, steps: [{ step: 'slot', at: 1 }] });
    reporter.update({ ...report('deploying'), slot: 1, steps: [{ step: 'slot', at: 1 }, { step: 'drain', at: 2 }] });
    reporter.update({ ...report('deploying'), slot: 1, steps: [{ step: 'slot', at: 1 }, { step: 'drain', at: 2 }, { step: 'pull', at: 3 }] });
    await pollUntil('the slot and drain report', () => (sent.length === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    // A new step of the same state goes once the spacing has passed.
    reporter.update({ ...report('deploying'), slot: 1, steps: [{ step: 'slot', at: 1 }, { step: 'drain', at: 2 }, { step: 'pull', at: 3 }, { step: 'up', at: 4 }] });
    await pollUntil('the held report', () => (sent.length === 2 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    expect(sent.map((r) => r.steps.map((s) => s.step))).toEqual([
      ['slot', 'drain', 'pull'],
      ['slot', 'drain', 'pull', 'up'],
    ]);
    await reporter.finish(report('succeeded'));
    expect(sent.map((r) => r.state)).toEqual(['deploying', 'deploying', 'succeeded']);
  });

  it('says nothing while a host only waits for its slot, and sends a slot whose drain is slow on its own', async () => {
    vi.useFakeTimers();
    try {
      const { sink, tried } = flakySink([]);
      const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal });
      reporter.update({ ...report('waiting'), steps: [{ step: 'received', at: 1 }] });
      reporter.update({ ...report('waiting'), steps: [{ step: 'received', at: 1 }, { step: 'waiting', at: 2 }] });
      // A waiting host reports once the spacing has passed (5 s).
      await vi.advanceTimersByTimeAsync(REPORT_SPACING_MS - 100);
      expect(tried).toEqual([]);
      await vi.advanceTimersByTimeAsync(100);
      expect(tried).toEqual(['waiting']);
      // The slot goes alone once the hold is over, though the drain has not ended.
      reporter.update({ ...report('deploying'), steps: [{ step: 'slot', at: 3 }, { step: 'drain', at: 4 }] });
      await vi.advanceTimersByTimeAsync(SETTLE_MS - 10);
      expect(tried).toEqual(['waiting']);
      await vi.advanceTimersByTimeAsync(10);
      expect(tried).toEqual(['waiting', 'deploying']);
      await reporter.finish(report('succeeded'));
      expect(tried).toEqual(['waiting', 'deploying', 'succeeded']);
    } finally {
      vi.useRealTimers();
    }
  });

  it("sends a change of the deploy's job at once, though the host is still waiting", async () => {
    const { sink, tried } = flakySink([]);
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal, spacingMs: 60_000 });
    const job = { service: 'migrate', state: 'running' as const, host: 'h1', attempt: 1, startedAt: 1 };
    reporter.update({ ...report('waiting'), job });
    await pollUntil('the job report', () => (tried.length === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    // The same job state again waits its turn.
    reporter.update({ ...report('waiting'), job, steps: [{ step: 'job', at: 2 }] });
    expect(tried).toEqual(['waiting']);
    await reporter.finish(report('succeeded'));
    expect(tried).toEqual(['waiting', 'succeeded']);
  });

  it('sends the moment the host is out of service (drained, its pull step) at once', async () => {
    const { sink, tried } = flakySink([]);
    const reporter = new ProgressReporter(sink, 'd-test01', logger, { deadlineAt: Number.POSITIVE_INFINITY, signal: new AbortController().signal, spacingMs: 60_000 });
    reporter.update({ ...report('deploying'), steps: [{ step: 'slot', at: 1 }] });
    await pollUntil('the slot report', () => (tried.length === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    reporter.update({ ...report('deploying'), steps: [{ step: 'slot', at: 1 }, { step: 'drain', at: 2 }] });
    expect(tried).toHaveLength(1);
    reporter.update({ ...report('deploying'), steps: [{ step: 'slot', at: 1 }, { step: 'drain', at: 2 }, { step: 'pull', at: 3 }] });
    await pollUntil('the drained report', () => (tried.length === 2 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    await reporter.finish(report('succeeded'));
    expect(tried).toEqual(['deploying', 'deploying', 'succeeded']);
  });
});
