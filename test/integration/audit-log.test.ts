// The audit log's Redis stream on a real Redis: capped by length on every append and by age
// once a minute, never showing an entry past the age cap, filters and `since` over more
// entries than one read fetches, and entries kept in the order they were appended.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { NewAuditEntry } from '../../shared/contract/audit-entry.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { RedisAuditLog, type AuditCaps } from '../../shared/redis/audit-log.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();
const KEY = redisKeys.audit();
const DAY_MS = 86_400_000;
/** Redis trims `~` by whole macro nodes: at most one node's entries (100 by default) past a cap. */
const NODE_ENTRIES = 100;

beforeEach(async () => {
  await redis.client.del(KEY);
});

const log = (caps: Partial<AuditCaps> = {}, now?: () => number) =>
  new RedisAuditLog({ redis: redis.client, logger: silent, caps: { maxEntries: 100_000, maxAgeMs: 90 * DAY_MS, ...caps }, ...(now ? { now } : {}) });

const entry = (n: number, fields: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
  time: new Date().toISOString(),
  actor: 'deployer ci-web (t-0000000a)',
  action: 'deploy.started',
  role: 'web',
  env: 'production',
  deployId: `d-audit${String(n).padStart(5, '0')}`,
  tag: 'v1',
  ...fields,
});

/** Writes entries as an older coordinator would have, at `ms` (ms since the epoch), straight into the stream. */
async function seed(ms: number[], fields: Partial<NewAuditEntry> = {}): Promise<void> {
  const pipeline = redis.client.pipeline();
  for (const [i, at] of ms.entries()) {
    const written = { ...entry(i, fields), time: new Date(at).toISOString() };
    pipeline.xadd(KEY, `${at}-${i}`, ...Object.entries(written).filter(([, value]) => value !== undefined).flat());
  }
  await pipeline.exec();
}

describe('the audit stream', () => {
  it('keeps about maxEntries: each append trims the oldest, never more than one macro node over the cap', async () => {
    const audit = log({ maxEntries: 200 });
    for (let batch = 0; batch < 100; batch += 1) await audit.append(Array.from({ length: 10 }, (_, i) => entry(batch * 10 + i)));
    const length = await redis.client.xlen(KEY);
    expect(length).toBeGreaterThanOrEqual(200);
    expect(length).toBeLessThanOrEqual(200 + NODE_ENTRIES);
    const page = await audit.read({ limit: 1000 });
    expect(page.entries).toHaveLength(length);
    expect(page.more).toBe(false);
    // The newest are kept, newest first; the oldest went.
    expect(page.entries[0]?.deployId).toBe('d-audit00999');
    expect(page.entries.at(-1)?.deployId).toBe(`d-audit${String(1000 - length).padStart(5, '0')}`);
  });

  it('trims entries past maxAge on an append, at most once a minute, and never shows one past it meanwhile', async () => {
    const now = Date.now();
    let clock = now;
    // 300 entries written 10 to 8 days ago, 200 written 6 days to 1 day ago.
    await seed(Array.from({ length: 300 }, (_, i) => now - 10 * DAY_MS + i * 1000));
    const young = Array.from({ length: 200 }, (_, i) => now - 6 * DAY_MS + i * 36 * 60_000);
    await seed(young);
    const audit = log({ maxAgeMs: 7 * DAY_MS }, () => clock);
    await audit.append([entry(99_999, { action: 'release.published' })]);

    const left = await redis.client.xlen(KEY);
    const tooOld = (await redis.client.xrange(KEY, '-', '+')).filter(([id]) => Number(id.split('-')[0]) < now - 7 * DAY_MS);
    expect(left).toBeLessThan(301 + NODE_ENTRIES);
    expect(tooOld.length).toBeLessThanOrEqual(NODE_ENTRIES);
    expect((await audit.read({ limit: 1000 })).entries).toHaveLength(201);

    // Five and a half days on, before any append trims again: entries past the cap are still in the stream, never read.
    clock = now + 5.5 * DAY_MS;
    const stillYoung = young.filter((at) => at >= clock - 7 * DAY_MS).length + 1;
    expect(await redis.client.xlen(KEY)).toBe(left);
    const read = await audit.read({ limit: 1000 });
    expect(read.entries).toHaveLength(stillYoung);
    expect(read.entries.every((e) => Number(e.id.split('-')[0]) >= clock - 7 * DAY_MS)).toBe(true);
    // The next append, over a minute after the last trim, trims them.
    await audit.append([entry(99_998)]);
    expect(await redis.client.xlen(KEY)).toBeLessThanOrEqual(stillYoung + 1 + NODE_ENTRIES);
    expect(await redis.client.xlen(KEY)).toBeLessThan(left);
    // Within the minute, an append only adds.
    const before = await redis.client.xlen(KEY);
    clock += 30_000;
    await audit.append([entry(99_997)]);
    expect(await redis.client.xlen(KEY)).toBe(before + 1);
  });

  it('filters by role and environment and since across more entries than one read fetches, saying when there is more', async () => {
    const now = Date.now();
    const matching = [now - 5 * 3_600_000, now - 3 * 3_600_000, now - 3_600_000];
    await seed(matching.slice(0, 1), { role: 'api', env: 'staging' });
    await seed(matching.slice(1, 2), { role: 'api', env: 'staging', deployId: 'd-audit77777' });
    // 2500 entries of another group after the first two matching ones, then a role-wide one of api.
    await seed(Array.from({ length: 2500 }, (_, i) => now - 2 * 3_600_000 - 2500 + i));
    await seed(matching.slice(2), { role: 'api', env: undefined, action: 'release.published', deployId: undefined, detail: 'image 127.0.0.1:5000/api@sha256:0' });
    const audit = log();

    const all = await audit.read({ role: 'api', env: 'staging', limit: 10 });
    expect(all.entries.map((e) => [e.action, e.env])).toEqual([
      ['release.published', undefined],
      ['deploy.started', 'staging'],
      ['deploy.started', 'staging'],
    ]);
    expect(all.more).toBe(false);
    expect(all.entries[0]).toEqual({
      id: `${matching[2]}-0`,
      time: new Date(matching[2]!).toISOString(),
      actor: 'deployer ci-web (t-0000000a)',
      action: 'release.published',
      role: 'api',
      tag: 'v1',
      detail: 'image 127.0.0.1:5000/api@sha256:0',
    });
    const sinceFour = await audit.read({ role: 'api', sinceMs: now - 4 * 3_600_000, limit: 10 });
    expect(sinceFour.entries.map((e) => e.id)).toEqual([`${matching[2]}-0`, `${matching[1]}-0`]);
    const limited = await audit.read({ role: 'api', limit: 2 });
    expect(limited.entries.map((e) => e.id)).toEqual([`${matching[2]}-0`, `${matching[1]}-0`]);
    expect(limited.more).toBe(true);
    const unfiltered = await audit.read({ limit: 5 });
    expect(unfiltered.entries).toHaveLength(5);
    expect(unfiltered.more).toBe(true);
  });

  it('keeps the order of appends issued without waiting, and skips an entry that does not parse', async () => {
    const audit = log();
    await Promise.all(Array.from({ length: 50 }, (_, i) => audit.append([entry(i), entry(1000 + i)])));
    await redis.client.xadd(KEY, '*', 'time', 'not an entry');
    const { entries } = await audit.read({ limit: 1000 });
    expect(entries).toHaveLength(100);
    expect(entries.map((e) => e.deployId).reverse()).toEqual(Array.from({ length: 50 }, (_, i) => [entry(i).deployId, entry(1000 + i).deployId]).flat());
    // Fields that do not apply are not written at all.
    const [, fields] = (await redis.client.xrange(KEY, '-', '+', 'COUNT', 1))[0]!;
    expect(fields.filter((_, i) => i % 2 === 0)).toEqual(['time', 'actor', 'action', 'role', 'env', 'deployId', 'tag']);
  });
});
