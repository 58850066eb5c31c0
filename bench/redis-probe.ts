// The benchmark's own connection to the cluster's Redis. It counts every command it
// sends, so that a commandstats delta can be cleaned of the benchmark's own traffic, and
// watches a measured window through MONITOR to tell who sent what.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { TIMED_OUT, within } from '../shared/contract/waiting.js';
import { commandDelta, parseCommandStats, type CommandCounts, type MonitorLine } from './measure.js';

const MONITOR_DRAIN_TIMEOUT_MS = 5_000;
const MONITOR_START_TIMEOUT_MS = 10_000;

/** Commands of a window by where they came from. */
export interface CommandOrigins {
  /** Sent by the agents (connections from the hosts' own addresses). */
  agents: CommandCounts;
  /** Sent from anywhere else but this probe: the coordinator. */
  coordinator: CommandCounts;
  /** Run inside Lua scripts (commandstats counts these too). */
  lua: CommandCounts;
}

export interface MeasuredWindow<T> {
  result: T;
  /** commandstats delta across the window, the benchmark's own commands taken out. */
  commands: CommandCounts;
  origins: CommandOrigins;
  /** Every command MONITOR showed in the window but the probe's own. */
  lines: MonitorLine[];
  durationMs: number;
}

function countOrigins(lines: readonly MonitorLine[]): CommandOrigins {
  const origins: CommandOrigins = { agents: new Map(), coordinator: new Map(), lua: new Map() };
  for (const line of lines) {
    const bucket = line.lua ? origins.lua : line.agent ? origins.agents : origins.coordinator;
    bucket.set(line.name, (bucket.get(line.name) ?? 0) + 1);
  }
  return origins;
}

export class RedisProbe implements AsyncDisposable {
  private readonly redis: Redis;
  private readonly sent: CommandCounts = new Map();

  constructor(url: string) {
    // No ready check and no client info: nothing is sent but what this class counts.
    this.redis = new Redis(url, {
      enableReadyCheck: false,
      disableClientInfo: true,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      commandTimeout: 5_000,
      connectTimeout: 5_000,
    });
    this.redis.on('error', () => {});
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  /** A copy of the per-command counts sent so far; take one with each snapshot. */
  sentSoFar(): CommandCounts {
    return new Map(this.sent);
  }

  /**
   * Calls per command. An INFO appears in exactly one of two snapshots around it (it counts
   * either itself or, in the next one, not), so each snapshot adds one `info` to what was sent.
   */
  async commandStats(): Promise<CommandCounts> {
    return parseCommandStats(await this.call('info', () => this.redis.info('commandstats')));
  }

  async zscore(key: string, member: string): Promise<string | null> {
    return this.call('zscore', () => this.redis.zscore(key, member));
  }

  async zcard(key: string): Promise<number> {
    return this.call('zcard', () => this.redis.zcard(key));
  }

  /** SET NX PX: true when the key was free and is now held with `value`. */
  async setNx(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.call('set', () => this.redis.set(key, value, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  /** Adds `members` to the set at `key`; how many were not there yet. */
  async addToSet(key: string, members: string[]): Promise<number> {
    return this.call('sadd', () => this.redis.sadd(key, ...members));
  }

  /** Takes `members` out of the set at `key`; how many were there. */
  async removeFromSet(key: string, members: string[]): Promise<number> {
    return this.call('srem', () => this.redis.srem(key, ...members));
  }

  /** Deletes `key` only while it still holds `value` (it may have expired and been taken). */
  async deleteIfHeld(key: string, value: string): Promise<void> {
    await this.call('eval', () =>
      this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, key, value),
    );
  }

  /**
   * Runs `body` between two commandstats snapshots, with MONITOR recording every command
   * between two ECHO markers this connection sends (MONITOR lists commands in the order
   * Redis ran them, so the markers bound the window exactly). `body` sees the lines as
   * they arrive. Commands run inside a script are credited to the client that called it.
   */
  async window<T>(agentIps: ReadonlySet<string>, body: (lines: readonly MonitorLine[]) => Promise<T>): Promise<MeasuredWindow<T>> {
    const mark = `gvbench-${randomUUID()}`;
    const own = await this.ownAddress();
    const lines: MonitorLine[] = [];
    const seen: { phase: 'before' | 'counting' | 'after'; caller: string; total: number } = { phase: 'before', caller: '', total: 0 };
    let sawEnd: () => void = () => {};
    const ended = new Promise<void>((resolve) => (sawEnd = resolve));
    const monitor = await this.monitor();
    monitor.on('monitor', (time: unknown, args: unknown, source: unknown) => {
      seen.total += 1;
      const words = Array.isArray(args) ? (args as unknown[]).map(String) : [];
      const from = typeof source === 'string' ? source : '';
      const name = (words[0] ?? '').toLowerCase();
      const lua = from === 'lua';
      // A script's commands follow the line of the script's own call.
      if (!lua) seen.caller = from;
      if (seen.caller === own) {
        if (name === 'echo' && words[1] === `${mark}-start`) seen.phase = 'counting';
        if (name === 'echo' && words[1] === `${mark}-end`) {
          seen.phase = 'after';
          sawEnd();
        }
        return;
      }
      if (seen.phase !== 'counting') return;
      const client = seen.caller.slice(0, seen.caller.lastIndexOf(':'));
      lines.push({ at: Number(time) * 1000, name, client, lua, agent: agentIps.has(client) });
    });
    try {
      const sentBefore = this.sentSoFar();
      const before = await this.commandStats();
      await this.call('echo', () => this.redis.echo(`${mark}-start`));
      const openedAt = performance.now();
      const result = await body(lines);
      const durationMs = performance.now() - openedAt;
      await this.call('echo', () => this.redis.echo(`${mark}-end`));
      const sentAfter = this.sentSoFar();
      const after = await this.commandStats();
      await within(ended, MONITOR_DRAIN_TIMEOUT_MS);
      if (seen.phase !== 'after') {
        throw new Error(`MONITOR did not show the end of the measured window (${seen.total} lines seen, phase ${seen.phase}, probe at ${own})`);
      }
      return { result, commands: commandDelta(before, after, commandDelta(sentBefore, sentAfter)), origins: countOrigins(lines), lines, durationMs };
    } finally {
      monitor.disconnect();
    }
  }

  /**
   * A connection in MONITOR mode. Not ioredis's monitor(): it enters the mode a tick after
   * MONITOR's OK, so a busy Redis's next line in the same read finds no command waiting, and
   * monitor() rejects with "Command queue state error" (it stopped a 30-host run twice). The
   * connection is in the mode all the same, and lines before the window's marker are not counted.
   */
  private async monitor(): Promise<Redis> {
    const monitor = this.redis.duplicate({ monitor: true, lazyConnect: false });
    monitor.on('error', () => {});
    const started = new Promise<void>((resolve) => monitor.once('monitoring', () => resolve()));
    if ((await within(started, MONITOR_START_TIMEOUT_MS)) === TIMED_OUT) {
      monitor.disconnect();
      throw new Error(`MONITOR did not start within ${MONITOR_START_TIMEOUT_MS / 1000} s`);
    }
    return monitor;
  }

  /** This connection's address as Redis sees it, which is not always the socket's own (NAT). */
  private async ownAddress(): Promise<string> {
    const info = String(await this.call('client', () => this.redis.call('CLIENT', 'INFO')));
    const addr = /(?:^|\s)addr=(\S+)/.exec(info)?.[1];
    if (!addr) throw new Error(`CLIENT INFO gave no addr: ${info.slice(0, 200)}`);
    return addr;
  }

  private async call<T>(name: string, send: () => Promise<T>): Promise<T> {
    this.sent.set(name, (this.sent.get(name) ?? 0) + 1);
    return send();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.redis.disconnect();
  }
}

