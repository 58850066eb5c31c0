// Loads the lock scripts from ./lua, registers them on an ioredis client and turns
// their numeric replies into typed outcomes. The only place that knows the codes.

import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { ConflictError, GrapevineError, UnreachableError, errorMessage } from '../contract/errors.js';

/** A wake list outlives the gap between a waiter's queueing and its BLPOP, and no more. */
const WAKE_TTL_MS = 30_000;
/** Renewed on every arrival; clears the set of a quiet group. A waiter that finds the set gone joins again on its next poll. */
const WAITERS_TTL_MS = 60 * 60 * 1000;

const scriptFiles = {
  acquireSlot: 'acquire-slot.lua',
  releaseSlot: 'release-slot-2.lua',
  renewSlot: 'renew-slot-1.lua',
  wakeNext: 'wake-next-2.lua',
  markBroken: 'mark-broken-2.lua',
  finishHost: 'finish-host-2.lua',
} as const;

type ScriptName = keyof typeof scriptFiles;

interface LoadedScript {
  command: string;
  lua: string;
  /** Fixed key count from the file name; undefined means the caller passes numkeys. */
  numberOfKeys: number | undefined;
}

const loaded = Object.fromEntries(
  Object.entries(scriptFiles).map(([name, file]) => {
    const lua = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    const keys = /-(\d+)\.lua$/.exec(file)?.[1];
    const script: LoadedScript = { command: `gv_${name}`, lua, numberOfKeys: keys === undefined ? undefined : Number(keys) };
    return [name, script];
  }),
) as Record<ScriptName, LoadedScript>;

/** What each script's reply means. */
interface ScriptOutcomes {
  acquireSlot: { kind: 'acquired'; slot: number } | { kind: 'queued' } | { kind: 'broken' };
  releaseSlot: 'released' | 'not-held';
  renewSlot: 'renewed' | 'not-held';
  wakeNext: 'woke' | 'none';
  markBroken: { woken: number };
  /** Hosts still to finish. */
  finishHost: number;
}

/** Maps a script's numeric reply to its outcome; a code the script never returns is a bug, not a state. */
function interpretReply<S extends ScriptName>(script: S, reply: unknown): ScriptOutcomes[S] {
  if (typeof reply !== 'number' || !Number.isInteger(reply)) {
    throw new GrapevineError('redis_unexpected_reply', `${scriptFiles[script]} replied ${JSON.stringify(reply)}`);
  }
  const code = reply;
  const outcome = ((): ScriptOutcomes[ScriptName] | undefined => {
    switch (script) {
      case 'acquireSlot':
        if (code > 0) return { kind: 'acquired', slot: code };
        if (code === 0) return { kind: 'queued' };
        if (code === -1) return { kind: 'broken' };
        return undefined;
      case 'releaseSlot':
        return code === 1 ? 'released' : code === 0 ? 'not-held' : undefined;
      case 'renewSlot':
        return code === 1 ? 'renewed' : code === 0 ? 'not-held' : undefined;
      case 'wakeNext':
        return code === 1 ? 'woke' : code === 0 ? 'none' : undefined;
      case 'markBroken':
        return code >= 0 ? { woken: code } : undefined;
      case 'finishHost':
        if (code >= 0) return code;
        if (code === -1) {
          throw new ConflictError('deploy_counter_missing', 'the deploy has no remaining-hosts counter (never initialised, or expired)');
        }
        return undefined;
    }
    return undefined;
  })();
  if (outcome === undefined) {
    throw new GrapevineError('redis_unexpected_reply', `${scriptFiles[script]} returned unknown code ${code}`);
  }
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

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

const registered = new WeakMap<Redis, LockScripts>();

/** The lock scripts bound to one client; every method returns the interpreted outcome or throws a GrapevineError. */
export class LockScripts {
  /** One registration per client, however many adapters share it. */
  static for(redis: Redis): LockScripts {
    let scripts = registered.get(redis);
    if (!scripts) {
      scripts = new LockScripts(redis);
      registered.set(redis, scripts);
    }
    return scripts;
  }

  private constructor(private readonly redis: Redis) {
    for (const script of Object.values(loaded)) {
      redis.defineCommand(script.command, { lua: script.lua, numberOfKeys: script.numberOfKeys });
    }
  }

  acquireSlot(keys: { broken: string; waiters: string; slots: readonly string[] }, token: string, ttlMs: number, score: string) {
    const all = [keys.broken, keys.waiters, ...keys.slots];
    return this.run('acquireSlot', [all.length, ...all, token, ttlMs, score, WAITERS_TTL_MS]);
  }

  releaseSlot(keys: { slot: string; waiters: string }, token: string, wakePrefix: string) {
    return this.run('releaseSlot', [keys.slot, keys.waiters, token, wakePrefix, WAKE_TTL_MS]);
  }

  renewSlot(slotKey: string, token: string, ttlMs: number) {
    return this.run('renewSlot', [slotKey, token, ttlMs]);
  }

  wakeNext(keys: { waiters: string; ownWake: string }, token: string, wakePrefix: string) {
    return this.run('wakeNext', [keys.waiters, keys.ownWake, token, wakePrefix, WAKE_TTL_MS]);
  }

  markBroken(keys: { broken: string; waiters: string }, mark: string, wakePrefix: string) {
    return this.run('markBroken', [keys.broken, keys.waiters, mark, wakePrefix, WAKE_TTL_MS]);
  }

  finishHost(keys: { remaining: string; finished: string }, host: string) {
    return this.run('finishHost', [keys.remaining, keys.finished, host]);
  }

  /**
   * ARGV that names keys (the wake prefix) is not rewritten by ioredis, so it must
   * carry the client's key prefix itself.
   */
  argKey(key: string): string {
    return `${this.redis.options.keyPrefix ?? ''}${key}`;
  }

  private async run<S extends ScriptName>(script: S, args: (string | number)[]): Promise<ScriptOutcomes[S]> {
    const command = (this.redis as unknown as Record<string, ScriptCommand>)[loaded[script].command];
    if (!command) throw new GrapevineError('redis_script_missing', `${scriptFiles[script]} is not registered`);
    let reply: unknown;
    try {
      reply = await command.apply(this.redis, args);
    } catch (error) {
      throw redisFailure(error, scriptFiles[script]);
    }
    return interpretReply(script, reply);
  }
}
