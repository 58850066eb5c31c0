// Stream appends gathered into windows (shared/redis/append-window.ts) on a real Redis: the
// entries land in the order of the calls whatever window they went in, each caller gets its
// own commands' results, and one caller's failed command fails that caller alone.
import { beforeEach, describe, expect, it } from 'vitest';
import { AppendWindow } from '../../shared/redis/append-window.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const redis = redisForThisFile();
const STREAM = 'gv:test:append-window';
const NOT_A_STREAM = 'gv:test:append-window:string';

beforeEach(async () => {
  await redis.client.del(STREAM, NOT_A_STREAM);
});

const append = (window: AppendWindow, n: number) => window.queue((pipeline) => (pipeline.xadd(STREAM, '*', 'n', String(n)), 1));

describe('append windows', () => {
  it('keeps the order of the calls across windows, with each caller given its own ids', async () => {
    const window = new AppendWindow(redis.client, 5);
    const results: Array<Promise<unknown[]>> = [];
    // 600 appends in three bursts, each in a turn of the event loop of its own: several windows by size (256 commands at most).
    for (let burst = 0; burst < 3; burst++) {
      for (let i = 0; i < 200; i++) results.push(append(window, burst * 200 + i));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const ids = (await Promise.all(results)).map(([id]) => id as string);
    const stored = await redis.client.xrange(STREAM, '-', '+');
    expect(stored.map(([, fields]) => Number(fields[1]))).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(stored.map(([id]) => id)).toEqual(ids);
  });

  it('fails the caller whose command Redis refused, and no other in the same window', async () => {
    await redis.client.set(NOT_A_STREAM, 'a string');
    const window = new AppendWindow(redis.client, 5);
    const before = append(window, 1);
    const refused = window.queue((pipeline) => (pipeline.xadd(NOT_A_STREAM, '*', 'n', '2'), 1));
    const after = append(window, 3);
    await expect(refused).rejects.toThrow(/WRONGTYPE/);
    expect((await before)[0]).toMatch(/^\d+-\d+$/);
    expect((await after)[0]).toMatch(/^\d+-\d+$/);
    expect((await redis.client.xrange(STREAM, '-', '+')).map(([, fields]) => fields[1])).toEqual(['1', '3']);
  });
});
