// What a host's view of a deploy and a report cost the coordinator and Redis at 1 000 and
// 10 000 hosts' worth of reports in Redis (the figures for the README's note; the issue's
// "before": 16.5 ms and 111 ms of coordinator CPU per whole-deploy fetch). Printed, not
// asserted, except what is not a timing: a view's size does not grow with the fleet.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { HostReport } from '../../shared/contract/schemas.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { ReportRecorder } from '../../coordinator/report-recorder.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import type { FleetControl } from '../../shared/ports/fleet-state.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();
const FETCHES = 300;
const REPORTS = 300;
const BATCH = 250;

const fleet = { brokenMark: async () => null } as unknown as FleetControl;
const report = (host: string, state: HostReport['state'], extra: Partial<HostReport> = {}): HostReport => ({
  host,
  state,
  steps: [{ step: 'received', at: 1 }, { step: 'slot', at: 2 }, { step: 'pull', at: 3 }],
  slot: 1,
  epoch: 1,
  counted: 0,
  ...extra,
});

/** CPU (user + system) this process spent in `work`, in ms. */
async function cpuMs(work: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const spent = process.cpuUsage(before);
  return (spent.user + spent.system) / 1000;
}

/** Redis's own time in EVALSHA calls, in µs per call, since the last reset. */
async function redisUsPerScript(): Promise<number> {
  const info = await redis.client.info('commandstats');
  return Number(/cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(info)?.[1] ?? Number.NaN);
}

describe('the cost of views and reports by fleet size', () => {
  const sizes = [1_000, 10_000];
  const bytes: number[] = [];
  it.each(sizes)('at %i hosts', async (hosts) => {
    const store = new RedisDeployStore({ redis: redis.client, logger: silent });
    const id = `d-cost${String(hosts).padStart(5, '0')}`;
    const targets = Array.from({ length: hosts }, (_, i) => `host-${String(i).padStart(5, '0')}`);
    await store.createDeploy({ id, role: 'cost', env: 'bench', tag: 'v1', image: '127.0.0.1:5000/cost:v1', status: 'in_progress', createdAt: Date.now(), targets, slots: Math.ceil(hosts / 3) });
    // Every host has reported once (deploying): the fleet's reports are in Redis.
    for (let i = 0; i < hosts; i += BATCH) {
      await Promise.all(targets.slice(i, i + BATCH).map((host) => store.applyReport(id, report(host, 'deploying', { counted: hosts }), 1)));
    }

    const viewed = targets.slice(0, FETCHES);
    let size = 0;
    await store.getHostView(id, viewed[0]!);
    const viewCpu = await cpuMs(async () => {
      for (const host of viewed) size = JSON.stringify(await store.getHostView(id, host)).length;
    });
    bytes.push(size);

    const wholeCpu = await cpuMs(async () => {
      for (let i = 0; i < 5; i += 1) JSON.stringify(await store.getDeploy(id));
    });

    const recorder = new ReportRecorder({ store, fleet, logger: silent, now: Date.now, fleetEvents: new FleetEventBus(silent) });
    await redis.client.config('RESETSTAT');
    const reported = targets.slice(FETCHES, FETCHES + REPORTS);
    const reportCpu = await cpuMs(async () => {
      for (const host of reported) await recorder.record(id, report(host, 'succeeded', { remaining: hosts }));
    });
    const redisUs = await redisUsPerScript();

    const summary = await store.getSummary(id);
    expect(summary?.counts).toEqual({ deploying: hosts - REPORTS, succeeded: REPORTS });
    console.log(
      `deploy views at ${hosts} hosts: host view ${(viewCpu / FETCHES).toFixed(3)} ms CPU per fetch, ${size} bytes; ` +
        `report ${(reportCpu / REPORTS).toFixed(3)} ms CPU per report, Redis ${redisUs} µs per report script; ` +
        `whole deploy (GET /v1/deploys/:id, paged above 1000 hosts) ${(wholeCpu / 5).toFixed(1)} ms CPU per read`,
    );
  }, 180_000);

  it('a view is the same size whatever the fleet', () => {
    expect(bytes).toHaveLength(2);
    // The only difference is the digits of the counts.
    expect(Math.abs(bytes[1]! - bytes[0]!)).toBeLessThanOrEqual(8);
  });
});
