// The one way Grapevine runs Lua on Redis: every script in ./lua is read once, run by its
// SHA1 with its keys in KEYS, and its reply turned into a typed outcome
// (or a typed error) by one mapping. The only place that knows the reply codes.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient as Redis } from './connection.js';
import { ConflictError, GrapevineError, UnreachableError, errorMessage } from '../contract/errors.js';

/** Script name -> file; `-N` in a file name is its fixed key count, none means the caller's keys vary. */
const scriptFiles = {
  acquireSlot: 'acquire-slot-16.lua',
  releaseSlot: 'release-slot-6.lua',
  backInService: 'back-in-service-3.lua',
  renewSlot: 'renew-slot-2.lua',
  renewLease: 'renew-lease-1.lua',
  wakeNext: 'wake-next.lua',
  leaveQueue: 'leave-queue-4.lua',
  markBroken: 'mark-broken.lua',
  liftHold: 'lift-hold.lua',
  finishHost: 'finish-host-2.lua',
  applyReport: 'apply-report-5.lua',
  finishDeploy: 'finish-deploy-2.lua',
  markReleaseBroken: 'mark-release-broken-1.lua',
  annotateDeploy: 'annotate-deploy-2.lua',
  claimJob: 'claim-job-5.lua',
  recordJob: 'record-job-2.lua',
  deleteIfHeld: 'delete-if-held-1.lua',
  createCredential: 'create-credential-2.lua',
  swapFlag: 'swap-flag-2.lua',
  holdLease: 'hold-lease-2.lua',
  takeGroupLock: 'take-group-lock-1.lua',
} as const;

export type ScriptName = keyof typeof scriptFiles;
type ScriptArg = string | number;

interface LoadedScript {
  file: string;
  lua: string;
  /** What EVALSHA names the script by. */
  sha: string;
  /** Fixed key count from the file name; undefined means the caller passes numkeys. */
  numberOfKeys: number | undefined;
}

/** Scripts cannot call each other inside Redis: a line `--- @include NAME` takes in lua/includes/NAME.lua. */
function withIncludes(lua: string): string {
  return lua.replace(/^--- @include ([a-z-]+)$/gm, (_, name: string) => readFileSync(new URL(`./lua/includes/${name}.lua`, import.meta.url), 'utf8').trimEnd());
}

const loaded = Object.fromEntries(
  Object.entries(scriptFiles).map(([name, file]) => {
    const lua = withIncludes(readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8'));
    const keys = /-(\d+)\.lua$/.exec(file)?.[1];
    return [name, { file, lua, sha: createHash('sha1').update(lua).digest('hex'), numberOfKeys: keys === undefined ? undefined : Number(keys) }];
  }),
) as Record<ScriptName, LoadedScript>;

/** Each script's file name and the Lua Redis runs for it (includes taken in): what a test checks against Redis's own view. */
export function scriptSources(): Array<{ file: string; lua: string }> {
  return Object.values(loaded).map(({ file, lua }) => ({ file, lua }));
}

/** What a wake-up attempt came to: the head woken, nobody waiting, or a head other than the one the caller read. */
export type WakeOutcome = 'woke' | 'nobody' | 'head-changed';

/** What each script's reply means. Records come back as the JSON Redis holds; the caller parses them with its schema. */
export interface ScriptOutcomes {
  acquireSlot:
    | { kind: 'acquired'; slot: number; epoch: number; roomLeft: boolean }
    | { kind: 'queued'; by: 'group' | 'zone' }
    | { kind: 'retry'; slot: number }
    | { kind: 'broken' }
    | { kind: 'stopped' }
    | { kind: 'held'; by: 'freeze' | 'gate' };
  /** Whether the token held the slot or the holder left the out-of-service set: a place may be free. */
  releaseSlot: boolean;
  renewSlot: 'renewed' | 'not-held';
  renewLease: 'renewed' | 'not-held';
  wakeNext: WakeOutcome;
  /** Whether a wake-up was meant for the leaving host: it goes to the next waiter. */
  leaveQueue: boolean;
  /** Whether the host was counted out of service. */
  backInService: boolean;
  markBroken: { woken: number; unread: number };
  /** The hold's value before it went: a freeze mark's JSON, or null. */
  liftHold: { woken: number; unread: number; value: string | null };
  /** Hosts still to finish. */
  finishHost: number;
  /** `stored`: a held-back report's caller gets the host's stored report JSON (undefined when it has none); an applied one was stored as sent. */
  applyReport:
    | { applied: boolean; status: string; rev: number; expectedHosts: number | undefined; countedDown: boolean; targets: number; targetsEnded: number; reported: number; counts: Record<string, number>; stored: string | undefined }
    | undefined;
  finishDeploy: { finished: boolean; record: string } | undefined;
  markReleaseBroken: { marked: boolean; release: string } | undefined;
  annotateDeploy: string | undefined;
  claimJob: { kind: 'done'; outcome: string } | { kind: 'claimed'; attempt: number } | { kind: 'running'; token: string } | { kind: 'broken' } | { kind: 'stopped' };
  recordJob: boolean;
  deleteIfHeld: boolean;
  /** False when the id was taken. */
  createCredential: boolean;
  /** The environment's flag version after the swap, or undefined when the flag changed since it was read. */
  swapFlag: number | undefined;
  /** The coordinators' lease: held (renewed or taken) in an epoch, or another holder's token. */
  holdLease: { kind: 'renewed' | 'taken'; epoch: number } | { kind: 'other'; holder: string };
  /** A group's lock between coordinators: taken, or the holder's token ("" when it lapsed meanwhile). */
  takeGroupLock: { kind: 'taken' } | { kind: 'held'; holder: string };
}

/** What wake-next.lua returns. */
const WAKES: Record<number, WakeOutcome> = { 1: 'nobody', 2: 'woke', 3: 'head-changed' };
/** A code the script never returns. */
const UNKNOWN = Symbol('unknown code');

/**
 * The one mapping from a script's reply to its outcome. A code the script never returns
 * is a bug, not a state; a record the script could not decode is store_corrupt.
 * `subject` names what the call was about (a deploy, a release) in errors.
 */
function interpretReply<S extends ScriptName>(script: S, reply: unknown, subject: string): ScriptOutcomes[S] {
  const file = scriptFiles[script];
  const unexpected = () => new GrapevineError('redis_unexpected_reply', `${file} replied ${JSON.stringify(reply)}`);
  const corrupt = (what: string) => new GrapevineError('store_corrupt', `${what} of ${subject} in Redis is not JSON`);
  const parts = Array.isArray(reply) ? (reply as unknown[]) : [reply];
  const code = parts[0];
  if (typeof code !== 'number' || !Number.isInteger(code)) throw unexpected();
  const text = (i: number): string => {
    const value = parts[i];
    if (typeof value !== 'string') throw unexpected();
    return value;
  };

  const outcome = ((): ScriptOutcomes[ScriptName] | typeof UNKNOWN => {
    switch (script) {
      case 'acquireSlot':
        if (code > 0) {
          const epoch = parts[1];
          const room = parts[2];
          return typeof epoch === 'number' && Number.isInteger(epoch) && epoch > 0 && (room === 0 || room === 1) ? { kind: 'acquired', slot: code, epoch, roomLeft: room === 1 } : UNKNOWN;
        }
        if (code === -6) {
          const slot = parts[1];
          return typeof slot === 'number' && Number.isInteger(slot) && slot >= 0 ? { kind: 'retry', slot } : UNKNOWN;
        }
        if (code === -3 || code === -4) return { kind: 'held', by: code === -3 ? 'freeze' : 'gate' };
        if (code === 0 || code === -5) return { kind: 'queued', by: code === 0 ? 'group' : 'zone' };
        return code === -1 ? { kind: 'broken' } : code === -2 ? { kind: 'stopped' } : UNKNOWN;
      case 'renewSlot':
      case 'renewLease':
        return code === 1 ? 'renewed' : code === 0 ? 'not-held' : UNKNOWN;
      case 'wakeNext':
        return WAKES[code] ?? UNKNOWN;
      case 'releaseSlot':
      case 'leaveQueue':
      case 'backInService':
        return code === 1 ? true : code === 0 ? false : UNKNOWN;
      case 'markBroken': {
        const unread = parts[1];
        return code >= 0 && typeof unread === 'number' ? { woken: code, unread } : UNKNOWN;
      }
      case 'liftHold': {
        const unread = parts[1];
        const value = parts[2];
        if (code < 0 || typeof unread !== 'number' || (value !== null && value !== undefined && typeof value !== 'string')) return UNKNOWN;
        return { woken: code, unread, value: typeof value === 'string' ? value : null };
      }
      case 'finishHost':
        if (code >= 0) return code;
        if (code === -1) throw new ConflictError('deploy_counter_missing', `${subject} has no remaining-hosts counter (never initialised, or expired)`);
        return UNKNOWN;
      case 'applyReport': {
        if (code === 0) return undefined;
        if (code === -2) throw corrupt("the host's stored report");
        const [, status, rev, expected, countedDown, targets, targetsEnded, reported, flat, stored] = parts;
        const numbers = [rev, countedDown, targets, targetsEnded, reported];
        if ((code !== 1 && code !== 2) || typeof status !== 'string' || typeof expected !== 'string' || !numbers.every((n) => typeof n === 'number')) return UNKNOWN;
        if (!Array.isArray(flat) || !flat.every((item) => typeof item === 'string') || (stored !== null && typeof stored !== 'string')) return UNKNOWN;
        const counts: Record<string, number> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) counts[flat[i] as string] = Number(flat[i + 1]);
        return {
          applied: code === 1,
          status,
          rev: rev as number,
          expectedHosts: expected === '' ? undefined : Number(expected),
          countedDown: countedDown === 1,
          targets: targets as number,
          targetsEnded: targetsEnded as number,
          reported: reported as number,
          counts,
          stored: typeof stored === 'string' ? stored : undefined,
        };
      }
      case 'finishDeploy':
        if (code === 0) return undefined;
        if (code === -1) throw corrupt('the record');
        return code === 1 || code === 2 ? { finished: code === 1, record: text(1) } : UNKNOWN;
      case 'markReleaseBroken':
        if (code === 0) return undefined;
        if (code === -1) throw corrupt('the record');
        return code === 1 || code === 2 ? { marked: code === 1, release: text(1) } : UNKNOWN;
      case 'annotateDeploy':
        if (code === 0) return undefined;
        if (code === -1) throw corrupt('the record');
        return code === 1 ? text(1) : UNKNOWN;
      case 'claimJob': {
        if (code === 1) return { kind: 'done', outcome: text(1) };
        if (code === 0) return { kind: 'running', token: text(1) };
        const attempt = parts[1];
        if (code === 2) return typeof attempt === 'number' && attempt > 0 ? { kind: 'claimed', attempt } : UNKNOWN;
        return code === -1 ? { kind: 'broken' } : code === -2 ? { kind: 'stopped' } : UNKNOWN;
      }
      case 'holdLease': {
        const value = parts[1];
        if (code === 0) return typeof value === 'string' ? { kind: 'other', holder: value } : UNKNOWN;
        if (code !== 1 && code !== 2) return UNKNOWN;
        return typeof value === 'number' && Number.isInteger(value) ? { kind: code === 1 ? 'renewed' : 'taken', epoch: value } : UNKNOWN;
      }
      case 'takeGroupLock':
        if (code === 1) return { kind: 'taken' };
        return code === 0 ? { kind: 'held', holder: text(1) } : UNKNOWN;
      case 'recordJob':
      case 'deleteIfHeld':
      case 'createCredential':
        return code === 1 ? true : code === 0 ? false : UNKNOWN;
      case 'swapFlag': {
        const version = parts[1];
        if (code === 0) return undefined;
        return code === 1 && typeof version === 'number' && version > 0 ? version : UNKNOWN;
      }
    }
    return UNKNOWN;
  })();
  if (outcome === UNKNOWN) throw unexpected();
  return outcome as ScriptOutcomes[S];
}

/** Wraps an ioredis failure where it enters: an error reply is a bug or a misconfigured server, anything else means Redis did not answer. */
export function redisFailure(error: unknown, what: string): GrapevineError {
  if (error instanceof GrapevineError) return error;
  if (error instanceof Error && error.name === 'ReplyError') {
    return new GrapevineError('redis_error', `${what}: ${error.message}`, { cause: error });
  }
  return new UnreachableError(`${what}: Redis did not answer (${errorMessage(error)})`, { cause: error });
}

/** Runs one ioredis call; whatever it throws reaches the caller as a GrapevineError naming `what`. */
export async function callRedis<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw redisFailure(error, what);
  }
}

const registered = new WeakMap<Redis, RedisScripts>();

/**
 * Every script run on one client; `run` returns the interpreted outcome or throws a
 * GrapevineError. A script goes by its SHA1 (EVALSHA) and, only when Redis does not hold it
 * yet (a fresh or restarted server), once in full (EVAL), which also loads it. Redis's script
 * cache is the server's, so a new connection does not send the source again. ioredis's own
 * scripts send it once per connection: 15 KB a host for the slot scripts, which a thousand
 * agents connecting at once pay together.
 */
export class RedisScripts {
  /** One instance per client, however many adapters share it. */
  static for(redis: Redis): RedisScripts {
    let scripts = registered.get(redis);
    if (!scripts) {
      scripts = new RedisScripts(redis);
      registered.set(redis, scripts);
    }
    return scripts;
  }

  private constructor(private readonly redis: Redis) {}

  /**
   * Runs `script` with `keys` as KEYS and `args` as ARGV. Every key the script touches is
   * in `keys`, so Redis Cluster's slot check covers them all.
   */
  async run<S extends ScriptName>(script: S, keys: readonly string[], args: readonly ScriptArg[], subject: string = scriptFiles[script]): Promise<ScriptOutcomes[S]> {
    const { file, lua, sha, numberOfKeys } = loaded[script];
    if (numberOfKeys !== undefined && keys.length !== numberOfKeys) {
      throw new GrapevineError('redis_script_keys', `${file} takes ${numberOfKeys} keys, was given ${keys.length}`);
    }
    const reply = await callRedis(file, async () => {
      try {
        return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        // NOSCRIPT: nothing ran; the full script runs it and loads it.
        if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
        return await this.redis.eval(lua, keys.length, ...keys, ...args);
      }
    });
    return interpretReply(script, reply, subject);
  }
}
