// Runs and supervises one `serf agent`: writes its config file (the RPC token can only
// be set there), starts it, restarts it if it dies, and stops it with a graceful leave.
// Everything this process asks the agent goes through one persistent RPC connection (client).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Logger } from '../contract/logger.js';
import type { SerfConfig } from '../contract/config.js';
import { UnreachableError, errorMessage } from '../contract/errors.js';
import { TIMED_OUT, pollUntil, within } from '../contract/waiting.js';
import { SerfRpcClient } from './serf-rpc-client.js';
import { gossipKeyring } from './serf-keyring-file.js';

export interface SerfAgentOptions {
  nodeName: string;
  serf: SerfConfig;
  tags: Record<string, string>;
  logger: Logger;
}

const MAX_RESTARTS = 5;
/** Serf's last lines of output kept, for the error when it exits while starting (it says why there). */
const KEPT_OUTPUT_LINES = 4;
const START_TIMEOUT_MS = 15_000;
/** A graceful leave that takes longer than this ends with SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
/** How long to wait for the exit once SIGKILL is sent, so a stop is bounded even then. */
const KILLED_WAIT_MS = 500;

export class SerfAgentProcess {
  /** Members, events, streams and keys on one RPC connection, which follows the agent across restarts. */
  readonly client: SerfRpcClient;
  private child: ResultPromise | undefined;
  private stopping = false;
  /** Whether start() saw the RPC answer; only then does an exit lead to a restart. */
  private started = false;
  private restarts = 0;
  private readonly configFile: string;
  private readonly keyringFile: string;
  private lastOutput: string[] = [];

  constructor(private readonly options: SerfAgentOptions) {
    const { serf } = options;
    this.client = new SerfRpcClient({ rpcAddr: serf.rpc, rpcAuth: serf.rpcAuth, logger: options.logger });
    this.configFile = join(serf.dataDir, 'serf.json');
    this.keyringFile = join(serf.dataDir, 'keyring.json');
  }

  async start(): Promise<void> {
    mkdirSync(this.options.serf.dataDir, { recursive: true, mode: 0o700 });
    gossipKeyring(this.keyringFile, this.options.serf.encryptKey, this.options.logger);
    writeFileSync(this.configFile, JSON.stringify(this.serfConfig(), null, 2), { mode: 0o600 });
    this.spawn();
    try {
      await this.waitForRpc();
    } catch (error) {
      // A failed start must leave nothing behind: no serf still running, no restart to come.
      await this.stop();
      throw error;
    }
  }

  /** Leaves the cluster gracefully (SIGINT), then makes sure the process is gone: SIGKILL after `graceMs`. */
  async stop(graceMs = STOP_TIMEOUT_MS): Promise<void> {
    this.stopping = true;
    this.client.close();
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGINT');
    if ((await within(child, graceMs)) === TIMED_OUT) {
      child.kill('SIGKILL');
      await within(child, KILLED_WAIT_MS);
    }
    rmSync(join(this.options.serf.dataDir, 'serf.pid'), { force: true });
  }

  private serfConfig(): Record<string, unknown> {
    const { serf, nodeName, tags } = this.options;
    return {
      node_name: nodeName,
      bind: serf.bind,
      ...(serf.advertise ? { advertise: serf.advertise } : {}),
      rpc_addr: serf.rpc,
      rpc_auth: serf.rpcAuth,
      // Serf refuses encrypt_key beside keyring_file: the key seeds the keyring, where rotations persist.
      ...(existsSync(this.keyringFile) ? { keyring_file: this.keyringFile } : {}),
      tags,
      snapshot_path: join(serf.dataDir, 'snapshot'),
      // Keep trying to join for five minutes so hosts may start before the rest of the fleet.
      retry_join: serf.join,
      retry_interval: '2s',
      retry_max_attempts: 150,
      log_level: 'warn',
      // No event handlers: the agent takes its events from an RPC stream (serf-event-stream.ts).
    };
  }

  private spawn(): void {
    const { serf, logger } = this.options;
    const child = execa(serf.binary, ['agent', `-config-file=${this.configFile}`], {
      reject: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
    });
    this.child = child;
    // Lets whoever started this agent end an orphaned serf by its id if the agent is killed.
    if (child.pid !== undefined) writeFileSync(join(serf.dataDir, 'serf.pid'), `${child.pid}\n`);
    child.stdout?.on('data', (chunk: Buffer) => (this.keep(chunk), logger.debug({ serf: chunk.toString().trim() }, 'serf output')));
    child.stderr?.on('data', (chunk: Buffer) => (this.keep(chunk), logger.warn({ serf: chunk.toString().trim() }, 'serf output')));
    void child.then((result) => {
      // During start() the exit fails the start (waitForRpc), which stops the agent: no restart.
      if (this.stopping || !this.started) return;
      logger.error({ exitCode: result.exitCode, signal: result.signal }, 'serf agent exited');
      if (this.restarts >= MAX_RESTARTS) {
        logger.fatal('serf agent keeps exiting; giving up');
        return;
      }
      this.restarts += 1;
      // A stop() during the pause must not be followed by a new serf.
      setTimeout(() => {
        if (!this.stopping) this.spawn();
      }, 1_000 * this.restarts).unref();
    });
  }

  /** Keeps Serf's last few lines (no secret: Serf prints no key or token). */
  private keep(chunk: Buffer): void {
    const lines = chunk.toString().split('\n').map((line) => line.trim()).filter((line) => line !== '');
    this.lastOutput = [...this.lastOutput, ...lines.map((line) => line.slice(0, 300))].slice(-KEPT_OUTPUT_LINES);
  }

  private async waitForRpc(): Promise<void> {
    // An agent that exits during start ends the wait at once, saying what Serf said last.
    const exited = new AbortController();
    void this.child?.then(() => exited.abort(new Error(`serf agent exited${this.lastOutput.length > 0 ? `; it said: ${this.lastOutput.join(' | ')}` : ''}`)));
    try {
      await pollUntil('its RPC to answer', async () => (await this.client.members(), true), { timeoutMs: START_TIMEOUT_MS, signal: exited.signal });
      this.started = true;
    } catch (error) {
      throw new UnreachableError(`serf agent on ${this.options.serf.rpc} did not start: ${errorMessage(error)}`, { cause: error });
    }
  }
}
