// A host takes part in one deploy of a role and environment at a time, in arrival order.
import { describe, expect, it } from 'vitest';
import { GroupLanes } from '../../agent/deploy/group-lanes.js';

/** A task that records when it starts and ends, and ends only when told. */
function task(name: string, log: string[]) {
  let finish!: (value: string) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<string>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    run: async () => {
      log.push(`${name} start`);
      try {
        return await done;
      } finally {
        log.push(`${name} end`);
      }
    },
    finish: () => finish(name),
    fail: () => fail(new Error(`${name} failed`)),
  };
}

const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('group lanes', () => {
  it('runs deploys of one group one after another, in the order they came', async () => {
    const lanes = new GroupLanes();
    const log: string[] = [];
    const first = task('v2', log);
    const second = task('v3', log);
    const a = lanes.run('web/production', first.run);
    const b = lanes.run('web/production', second.run);
    await turn();
    expect(log).toEqual(['v2 start']);
    first.finish();
    expect(await a).toBe('v2');
    await turn();
    expect(log).toEqual(['v2 start', 'v2 end', 'v3 start']);
    second.finish();
    expect(await b).toBe('v3');
    await turn();
  });

  it('lets deploys of other groups run at the same time', async () => {
    const lanes = new GroupLanes();
    const log: string[] = [];
    const production = task('production', log);
    const staging = task('staging', log);
    const a = lanes.run('web/production', production.run);
    const b = lanes.run('web/staging', staging.run);
    await turn();
    expect(log).toEqual(['production start', 'staging start']);
    staging.finish();
    production.finish();
    await Promise.all([a, b]);
  });

  it('goes on with the next deploy when one fails', async () => {
    const lanes = new GroupLanes();
    const log: string[] = [];
    const failing = task('bad', log);
    const next = task('v4', log);
    const a = lanes.run('web/production', failing.run);
    const b = lanes.run('web/production', next.run);
    failing.fail();
    await expect(a).rejects.toThrow('bad failed');
    await turn();
    expect(log).toEqual(['bad start', 'bad end', 'v4 start']);
    next.finish();
    expect(await b).toBe('v4');
  });
});
