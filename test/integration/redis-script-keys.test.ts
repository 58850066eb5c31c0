// Every Lua script touches only the keys its caller passed in KEYS (what Redis Cluster and
// a client's keyPrefix rely on): the whole protocol runs under MONITOR, and each command a
// script ran is checked, with Redis' own COMMAND GETKEYS, against that call's KEYS. Each
// script's KEYS, and each MULTI's keys, must also fall in one Redis Cluster slot.

import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { clusterKeySlot } from '../../shared/contract/redis-key-slot.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { RedisFlagStore } from '../../shared/redis/flag-store.js';
import { applySettings } from '../../coordinator/flags/flag-changes.js';
import { RedisJobLocks } from '../../shared/redis/job-lock.js';
import { RedisLeaseStore } from '../../shared/redis/coordinator-lease-store.js';
import { RedisGroupLockStore } from '../../shared/redis/group-lock-store.js';
import { scriptSources } from '../../shared/redis/scripts.js';
import { RedisSlotLocks, type RedisAcquireResult, type RedisSlotLease } from '../../shared/redis/slot-locks.js';
import { WaitQueue } from '../../shared/redis/wait-queue.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();
const luaDir = new URL('../../shared/redis/lua/', import.meta.url);

interface ScriptCall {
  sha: string;
  keys: Set<string>;
  /** Each command the script ran, as MONITOR printed it. */
  ran: string[][];
}

function acquired(result: RedisAcquireResult): RedisSlotLease {
  if (result.kind !== 'acquired') throw new Error(`expected a slot, got ${JSON.stringify(result)}`);
  return result.lease;
}

/** Every script, each code path the protocol takes in practice. */
async function runTheProtocol(): Promise<void> {
  const client = () => {
    const c = new Redis(redis.server.url, { maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };
  const clients: Redis[] = [];
  try {
    const group = { role: 'keys', env: 'test' };
    const locks = () => new RedisSlotLocks({ redis: client(), ttlMs: 400, pollMs: 200, logger: silent });
    const signal = AbortSignal.timeout(20_000);
    const holder = acquired(await locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-a', tag: 'v1', signal }));
    const waiting = locks().acquire({ group, deployId: 'd1', slots: 1, holder: 'host-b', tag: 'v1', signal });
    const waiters = redisKeys.waiters(group.role, group.env);
    await until('the waiter in the queue', async () => ((await redis.client.zcard(waiters)) === 1 ? true : undefined), { intervalMs: 20 });
    // The lease renews at TTL/2: the key's TTL goes up again.
    const slotKey = redisKeys.slot(group.role, group.env, 1);
    let lastTtl = await redis.client.pttl(slotKey);
    await until('a renewal', async () => {
      const ttl = await redis.client.pttl(slotKey);
      const renewed = ttl > lastTtl;
      lastTtl = ttl;
      return renewed ? true : undefined;
    }, { intervalMs: 20 });
    await holder.release();
    const next = acquired(await waiting);

    // A stand-down that passes a wake-up on, and a head that moved under a release.
    const queue = new WaitQueue(client(), group);
    await redis.client.zadd(waiters, '1', 'token-b', '2', 'token-c');
    await redis.client.lpush(queue.wakeKey('token-a'), '0');
    await queue.leave('token-a');
    await redis.client.set(redisKeys.slot(group.role, group.env, 2), 'holder-2');
    await queue.release(redisKeys.slot(group.role, group.env, 2), 2, 'holder-2', 'holder');
    await queue.wakeNext();
    // A zone rule's slot: hosts of two zones, one out of service, a wake-up that skips the zone at its cap.
    const zoned = { role: 'keys', env: 'zoned' };
    const zoneRule = { kind: 'max-per-zone' as const, max: 1 };
    const zoneA = acquired(await locks().acquire({ group: zoned, deployId: 'd7', slots: 3, holder: 'host-a', tag: 'v1', signal, zone: 'a', zoneRule }));
    const zoneAWaits = locks().acquire({ group: zoned, deployId: 'd7', slots: 3, holder: 'host-b', tag: 'v1', signal, zone: 'a', zoneRule });
    await until('the zone-a host in its queue', async () => ((await redis.client.zcard(redisKeys.zoneWaiters(zoned.role, zoned.env, 'a'))) === 1 ? true : undefined), { intervalMs: 20 });
    await new WaitQueue(client(), zoned, 'b').wakeNext(zoneRule);
    await zoneA.release();
    await acquired(await zoneAWaits).release();

    const fleet = new RedisFleetState({ redis: client(), logger: silent, host: 'host-a' });
    await fleet.initRemaining(group, 'd-keys0001', 2);
    await fleet.finishHost(group, 'd-keys0001', 'host-a');
    await fleet.stopDeploy(group, 'd-keys0001', 'past its deadline');
    // A lost holder that serves again wakes a waiter; one still out keeps its place against k.
    await redis.client.zadd(waiters, '3', 'token-d');
    await fleet.backInService(group, next.token.split('/')[0]!);
    await fleet.isOutOfService(group, 'host-a');
    await fleet.markBroken(group, 'v1', 'health check failed');
    await next.release();

    // A freeze holds a host aside and the unfreeze wakes it; a deploy's gate does the same.
    const parked = { role: 'keys', env: 'held' };
    const held = redisKeys.held(parked.role, parked.env);
    const gateHolder = acquired(await locks().acquire({ group: parked, deployId: 'd5', slots: 1, holder: 'host-a', tag: 'v3', signal }));
    await fleet.freeze(parked, { reason: 'release train', by: 'ops', at: Date.now() });
    const frozenOut = locks().acquire({ group: parked, deployId: 'd5', slots: 1, holder: 'host-b', tag: 'v3', signal });
    await until('the frozen-out host held', async () => ((await redis.client.zcard(held)) === 1 ? true : undefined), { intervalMs: 20 });
    await fleet.unfreeze(parked);
    await fleet.closeGate(parked, 'd6', ['host-x']);
    const gatedOut = locks().acquire({ group: parked, deployId: 'd6', slots: 1, holder: 'host-c', tag: 'v3', signal });
    await until('the gated-out host held', async () => ((await redis.client.zcard(held)) === 1 ? true : undefined), { intervalMs: 20 });
    await fleet.openGate(parked, 'd6');
    await until('both hosts queued again', async () => ((await redis.client.zcard(redisKeys.waiters(parked.role, parked.env))) === 2 ? true : undefined), { intervalMs: 20 });
    await gateHolder.release();
    await acquired(await frozenOut).release();
    await acquired(await gatedOut).release();

    const store = new RedisDeployStore({ redis: client(), logger: silent });
    const deploy = { id: 'd-keys0002', role: 'web', env: 'test', tag: 'v1', image: '127.0.0.1:5000/web:v1', status: 'in_progress' as const, createdAt: 1, targets: ['h1'] };
    await store.createDeploy(deploy);
    await store.applyReport(deploy.id, { host: 'h1', state: 'succeeded', steps: [], counted: 1, remaining: 0 }, 2);
    await store.applyLostReport(deploy.id, { host: 'h1', state: 'lost', steps: [] }, 3);
    await store.finishDeploy(deploy.id, 'succeeded', undefined, 4);
    await store.annotateDeploy(deploy.id, { promotedTo: 'd-keys0003' });
    await store.publishRelease({ role: 'web', tag: 'v1', image: '127.0.0.1:5000/web:v1', publishedAt: 1 });
    await store.markReleaseBroken('web', 'v1', { reason: 'x', by: 'h1', at: 5 });

    // The once-per-deploy job: taken, renewed, held by another, freed, taken again and recorded.
    const jobs = () => new RedisJobLocks({ redis: client(), ttlMs: 300 });
    const claim = { group, deployId: 'd-keys0004', tag: 'v2', logger: silent };
    const first = await jobs().claim({ ...claim, holder: 'host-a' });
    if (first.kind !== 'claimed') throw new Error(`expected the job's lease, got ${first.kind}`);
    const jobLock = redisKeys.jobLock(group.role, group.env, claim.deployId);
    let jobTtl = await redis.client.pttl(jobLock);
    await until('a renewal of the job lease', async () => {
      const ttl = await redis.client.pttl(jobLock);
      const renewed = ttl > jobTtl;
      jobTtl = ttl;
      return renewed ? true : undefined;
    }, { intervalMs: 20 });
    await jobs().claim({ ...claim, holder: 'host-b' });
    await first.lease.release();
    const second = await jobs().claim({ ...claim, holder: 'host-b' });
    if (second.kind !== 'claimed') throw new Error(`expected the job's lease, got ${second.kind}`);
    await second.lease.record({ service: 'migrate', host: 'host-b', state: 'succeeded', attempt: second.lease.attempt, startedAt: 1, endedAt: 2 });
    await jobs().claim({ ...claim, holder: 'host-c' });

    // Credentials: one that never expires, and one that does.
    const credentials = new RedisCredentialStore({ redis: client(), logger: silent });
    await credentials.create({ scope: 'deployer', name: 'ci', createdBy: 'keys' });
    await credentials.create({ scope: 'host', host: 'h1', name: 'h1', createdBy: 'keys', expiresAt: Date.now() + 60_000 });

    // Feature flags: one created, changed and removed, each a swap.
    const flags = new RedisFlagStore({ redis: client(), logger: silent });
    const change = { env: 'keys', name: 'banner', by: 'keys', at: 1 };
    await flags.change('keys', 'banner', (current) => applySettings(current, { percent: 10 }, change));
    await flags.change('keys', 'banner', (current) => applySettings(current, { percent: 20 }, change));
    await flags.change('keys', 'banner', () => null);

    // The coordinators' lease: taken, extended, refused to another, dropped, taken by the other.
    const lease = new RedisLeaseStore(client());
    await lease.hold('coordinator-1/a', 6_000);
    await lease.hold('coordinator-1/a', 6_000);
    await lease.hold('coordinator-2/b', 6_000);
    await lease.drop('coordinator-1/a');
    await lease.hold('coordinator-2/b', 6_000);

    // A group's lock between coordinators: taken, refused to the other, renewed, released, taken by the other.
    const groupLocks = new RedisGroupLockStore(client());
    await groupLocks.take(group, 'coordinator-1/rollout/a', 10_000);
    await groupLocks.take(group, 'coordinator-2/catch-up/b', 10_000);
    await groupLocks.renew(group, 'coordinator-1/rollout/a', 10_000);
    await groupLocks.release(group, 'coordinator-2/catch-up/b');
    await groupLocks.release(group, 'coordinator-1/rollout/a');
    await groupLocks.take(group, 'coordinator-2/catch-up/b', 10_000);
  } finally {
    for (const c of clients) c.disconnect();
  }
}

it('every command a script runs touches only the keys its call passed in KEYS', async () => {
  const db = String(redis.server.db);
  // Every script file is one the loader registers, and each is checked as Redis runs it.
  const files = readdirSync(luaDir).filter((file) => file.endsWith('.lua'));
  expect(scriptSources().map((script) => script.file).sort()).toEqual([...files].sort());
  const shaOf = new Map(scriptSources().map(({ file, lua }) => [file, sha1(lua)]));
  const lines: Array<{ args: string[]; source: string }> = [];
  const monitor = await redis.client.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string, database: string) => {
    if (database === db) lines.push({ args, source });
  });
  try {
    await runTheProtocol();
    const marker = `end-of-protocol-${Date.now()}`;
    await redis.client.echo(marker);
    await until('MONITOR to catch up', () => (lines.some((line) => line.args[1] === marker) ? true : undefined));
  } finally {
    monitor.disconnect();
  }

  // Scripts run alone on the server: the commands after an EVAL/EVALSHA line, until the next client's line, are its own.
  const calls: ScriptCall[] = [];
  let current: ScriptCall | undefined;
  for (const { args, source } of lines) {
    if (source !== 'lua') {
      const name = args[0]?.toLowerCase();
      if (name === 'evalsha' || name === 'eval') {
        const numberOfKeys = Number(args[2]);
        current = { sha: name === 'eval' ? sha1(unescapeMonitor(args[1]!)) : args[1]!, keys: new Set(args.slice(3, 3 + numberOfKeys)), ran: [] };
        calls.push(current);
      } else {
        current = undefined;
      }
      continue;
    }
    if (!current) throw new Error(`a script command with no script call before it: ${args.join(' ')}`);
    current.ran.push(args);
  }

  // Redis Cluster runs a script only when its KEYS map to one slot (a shared hash tag).
  const spanning = calls.filter((call) => new Set([...call.keys].map(clusterKeySlot)).size > 1).map((call) => `${scriptName(call.sha)}: ${[...call.keys].join(' ')}`);
  expect(spanning).toEqual([]);
  // So does a MULTI: each client's transaction, from MULTI to EXEC, in one slot.
  expect(await transactionsSpanningSlots(lines)).toEqual([]);

  const undeclared: string[] = [];
  for (const call of calls) {
    for (const command of call.ran) {
      const touched = await keysOf(command);
      for (const key of touched) if (!call.keys.has(key)) undeclared.push(`${command.join(' ')} touches ${key}, not in KEYS`);
    }
  }
  expect(undeclared).toEqual([]);

  // Every script in the folder ran (and so was checked).
  const shas = new Set(calls.filter((call) => call.ran.length > 0).map((call) => call.sha));
  const unchecked = files.filter((file) => !shas.has(shaOf.get(file)!));
  expect(files.length).toBeGreaterThanOrEqual(11);
  expect(unchecked).toEqual([]);
}, 60_000);

/** The transactions in the MONITOR lines whose keys fall in more than one cluster slot, each as its commands. */
async function transactionsSpanningSlots(lines: Array<{ args: string[]; source: string }>): Promise<string[]> {
  const open = new Map<string, string[][]>();
  const spanning: string[] = [];
  for (const { args, source } of lines) {
    const name = args[0]?.toLowerCase();
    if (name === 'multi') open.set(source, []);
    else if (name === 'exec' || name === 'discard') {
      const commands = open.get(source) ?? [];
      open.delete(source);
      const keys = (await Promise.all(commands.map(keysOf))).flat();
      if (new Set(keys.map(clusterKeySlot)).size > 1) spanning.push(commands.map((command) => command.join(' ')).join('; '));
    } else if (source !== 'lua') open.get(source)?.push(args);
  }
  return spanning;
}

function scriptName(sha: string): string {
  return scriptSources().find(({ lua }) => sha1(lua) === sha)?.file ?? sha;
}

/** The keys of one command, as Redis itself finds them; none for a command without keys (TIME). */
async function keysOf(command: string[]): Promise<string[]> {
  // A command of one word (TIME) names no key, and COMMAND GETKEYS refuses to look.
  if (command.length < 2) return [];
  try {
    return (await redis.client.call('COMMAND', 'GETKEYS', ...command)) as string[];
  } catch (error) {
    if (/no key arguments|Invalid arguments/i.test(String(error))) return [];
    throw new Error(`COMMAND GETKEYS ${JSON.stringify(command)}: ${String(error)}`);
  }
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** MONITOR prints an EVAL's body escaped (ioredis already turned \\" back into "): undo the rest. */
function unescapeMonitor(text: string): string {
  const plain: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '\\': '\\' };
  return text.replace(/\\(x[0-9a-f]{2}|[nrtab\\])/g, (_, code: string) => (code.startsWith('x') ? String.fromCharCode(parseInt(code.slice(1), 16)) : plain[code]!));
}
