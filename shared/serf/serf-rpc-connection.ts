// One long-lived connection to a Serf agent's RPC port (MessagePack over TCP), shared by
// everything in a process that asks Serf: the handshake and the token once, then requests
// with sequence numbers, several in flight, and event streams that the agent pushes down the
// same socket. When the agent goes away (killed, restarted), requests in flight fail at once,
// and streams are subscribed again on a new connection, after a pause that doubles up to a cap.
import { Socket } from 'node:net';
import { connectWithin } from './rpc-socket.js';
import { decodeMultiStream, encode } from '@msgpack/msgpack';
import type { Logger } from '../contract/logger.js';
import { GrapevineError, TimeoutError, UnreachableError, errorMessage } from '../contract/errors.js';
import { pause } from '../contract/waiting.js';
import { SerfRpcError, type SerfRpcAnswer } from './serf-rpc.js';

const IPC_VERSION = 1;
/** Answers after which the agent sends no body, whatever the command. */
const BODYLESS_ERRORS = new Set(['Authentication required', 'Handshake required', 'Unsupported command']);
const DEFAULT_TIMEOUT_MS = 10_000;
const RECONNECT_FIRST_MS = 100;
const RECONNECT_CAP_MS = 5_000;

export interface SerfRpcConnectionOptions {
  /** host:port of the agent's RPC. */
  address: string;
  authKey: string;
  /** How long one request (and the connect with its handshake) may take. */
  timeoutMs?: number;
  /** Where reconnects are told; a one-off client (the CLI) passes none. */
  logger?: Logger;
  /** The longest pause between two attempts to reconnect a stream; 5 s unless given. */
  reconnectCapMs?: number;
}

/** A request value: Serf's field names to strings, numbers, booleans, bytes or string maps. */
export type RpcValue = string | number | boolean | Uint8Array | Record<string, string>;

/** One event stream, across reconnects, until `stop()`. */
export interface SerfStreamHandle {
  stop(): Promise<void>;
}

interface Pending {
  command: string;
  hasBody: boolean;
  settle: (outcome: { answer: SerfRpcAnswer } | { error: Error }) => void;
}

interface Subscription {
  type: string;
  onRecord: (record: Record<string, unknown>) => void;
  /** Called when a stream that had been running is subscribed again after a lost connection. */
  onResumed?: () => void;
  active: boolean;
  everSubscribed: boolean;
}

interface Link {
  socket: Socket;
  pending: Map<number, Pending>;
  /** Stream sequence numbers of this link: acknowledged once, then every header is a record's. */
  streams: Map<number, { subscription: Subscription; acked: boolean }>;
  /** Where the next value goes when it is the body of the header before it. */
  nextBody: ((body: unknown) => void) | undefined;
  lost: boolean;
}

export class SerfRpcConnection {
  readonly address: string;
  private readonly timeoutMs: number;
  private readonly log: Logger | undefined;
  private readonly subscriptions = new Set<Subscription>();
  private seq = 0;
  private link: Promise<Link> | undefined;
  /** The link `link` resolved to, known at once when it is lost. */
  private current: Link | undefined;
  private closed = false;
  private reconnecting = false;
  private readonly closing = new AbortController();

  constructor(private readonly options: SerfRpcConnectionOptions) {
    this.address = options.address;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.log = options.logger?.child({ component: 'serf-rpc', rpc: options.address });
  }

  /** Sends one command and waits for its answer; opens the connection first when there is none. */
  async request(command: string, body: Record<string, RpcValue> | undefined, hasBody: boolean, timeoutMs = this.timeoutMs): Promise<SerfRpcAnswer> {
    const link = await this.connected();
    const answer = await this.send(link, command, body, hasBody, timeoutMs);
    if (BODYLESS_ERRORS.has(answer.error)) throw new SerfRpcError(`serf agent on ${this.address} refused ${command}: ${answer.error}`);
    return answer;
  }

  /**
   * Streams events of `type` (Serf's filter: `user:deploy,user:retire`, `member-join`...) to
   * `onRecord` until stopped, across reconnects. Resolves once the first subscription is in
   * place; rejects, leaving nothing behind, when the agent cannot be reached or refuses it.
   */
  async stream(type: string, onRecord: Subscription['onRecord'], onResumed?: () => void): Promise<SerfStreamHandle> {
    const subscription: Subscription = { type, onRecord, active: true, everSubscribed: false, ...(onResumed ? { onResumed } : {}) };
    this.subscriptions.add(subscription);
    try {
      await this.subscribe(await this.connected(), subscription);
    } catch (error) {
      this.subscriptions.delete(subscription);
      throw error;
    }
    return {
      stop: async () => {
        subscription.active = false;
        this.subscriptions.delete(subscription);
        const link = this.link && (await this.link.catch(() => undefined));
        const seq = link && [...link.streams].find(([, stream]) => stream.subscription === subscription)?.[0];
        // Records already on their way are still read (and dropped): the seq stays known.
        if (link && !link.lost && seq !== undefined) await this.send(link, 'stop', { Stop: seq }, false, this.timeoutMs).catch(() => undefined);
      },
    };
  }

  /** Closes the connection for good: requests in flight fail, streams end, no reconnect. */
  close(): void {
    this.closed = true;
    this.closing.abort(new Error('serf RPC connection closed'));
    void this.link?.then((link) => link.socket.destroy(), () => undefined);
    this.link = undefined;
  }

  private connected(): Promise<Link> {
    if (this.closed) return Promise.reject(new UnreachableError(`serf RPC connection to ${this.address} is closed`));
    if (!this.link) {
      const opening = this.open().then((link) => {
        if (link.lost) throw new UnreachableError(`the connection to the serf agent on ${this.address} was lost`);
        this.current = link;
        return link;
      });
      this.link = opening;
      // A failed attempt is forgotten, so the next request tries again.
      opening.catch(() => {
        if (this.link === opening) this.link = undefined;
      });
    }
    return this.link;
  }

  private async open(): Promise<Link> {
    const socket = new Socket();
    const link: Link = { socket, pending: new Map(), streams: new Map(), nextBody: undefined, lost: false };
    try {
      await connectWithin(socket, this.address, this.timeoutMs);
    } catch (error) {
      socket.destroy();
      throw new UnreachableError(`serf agent on ${this.address} is unreachable: ${errorMessage(error)}`, { cause: error });
    }
    socket.setNoDelay(true);
    // The connection never keeps a process alive by itself: a request in flight does (its timer).
    socket.unref();
    socket.on('error', () => undefined); // the read loop sees the same failure
    void this.read(link);
    try {
      const handshake = await this.send(link, 'handshake', { Version: IPC_VERSION }, false, this.timeoutMs);
      if (handshake.error) throw new SerfRpcError(`serf agent on ${this.address} refused the handshake: ${handshake.error}`);
      const auth = await this.send(link, 'auth', { AuthKey: this.options.authKey }, false, this.timeoutMs);
      if (auth.error) throw new SerfRpcError(`serf agent on ${this.address} refused the RPC token: ${auth.error}`);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return link;
  }

  private send(link: Link, command: string, body: Record<string, RpcValue> | undefined, hasBody: boolean, timeoutMs: number): Promise<SerfRpcAnswer> {
    if (link.lost) return Promise.reject(new UnreachableError(`the connection to the serf agent on ${this.address} was lost`));
    const seq = this.seq++;
    return new Promise<SerfRpcAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The entry stays: its late answer (and body) must still be read off the stream.
        entry.settle = () => undefined;
        reject(new TimeoutError(`serf agent on ${this.address} did not answer ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry: Pending = {
        command,
        hasBody,
        settle: (outcome) => {
          clearTimeout(timer);
          if ('answer' in outcome) resolve(outcome.answer);
          else reject(outcome.error);
        },
      };
      link.pending.set(seq, entry);
      // The agent's codec (go-msgpack, WriteExt) reads str8 strings and bin bytes into its fields.
      const header = encode({ Command: command, Seq: seq });
      link.socket.write(body === undefined ? header : Buffer.concat([header, encode(body)]));
    });
  }

  private async subscribe(link: Link, subscription: Subscription): Promise<void> {
    const seq = this.seq;
    link.streams.set(seq, { subscription, acked: false });
    const answer = await this.send(link, 'stream', { Type: subscription.type }, false, this.timeoutMs);
    if (answer.error) {
      link.streams.delete(seq);
      throw new SerfRpcError(`serf agent on ${this.address} refused the event stream ${subscription.type}: ${answer.error}`);
    }
    if (subscription.everSubscribed) subscription.onResumed?.();
    subscription.everSubscribed = true;
  }

  /** Reads every value the agent sends and hands it to the request or stream its header names. */
  private async read(link: Link): Promise<void> {
    try {
      for await (const value of decodeMultiStream(link.socket)) this.take(link, value);
      this.lose(link, undefined);
    } catch (error) {
      this.lose(link, error);
    }
  }

  private take(link: Link, value: unknown): void {
    const taker = link.nextBody;
    if (taker) {
      link.nextBody = undefined;
      taker(value);
      return;
    }
    if (typeof value !== 'object' || value === null || !('Seq' in value) || typeof value.Seq !== 'number') {
      throw new Error('the agent sent something other than a response header');
    }
    const seq = value.Seq;
    const error = 'Error' in value && typeof value.Error === 'string' ? value.Error : '';
    const stream = link.streams.get(seq);
    if (stream?.acked) {
      link.nextBody = (record) => {
        if (!stream.subscription.active || typeof record !== 'object' || record === null) return;
        try {
          stream.subscription.onRecord(record as Record<string, unknown>);
        } catch (failure) {
          this.log?.error({ err: errorMessage(failure) }, 'an event stream handler failed');
        }
      };
      return;
    }
    if (stream) stream.acked = true;
    const pending = link.pending.get(seq);
    if (!pending) throw new Error(`the agent answered request ${seq}, which was never sent`);
    link.pending.delete(seq);
    if (pending.hasBody && !BODYLESS_ERRORS.has(error)) {
      link.nextBody = (body) => pending.settle({ answer: { error, body: body as Record<string, unknown> } });
    } else {
      pending.settle({ answer: { error, body: undefined } });
    }
  }

  /** The link is gone: fail what waits on it, and bring the streams back on a new one. */
  private lose(link: Link, failure: unknown): void {
    if (link.lost) return;
    link.lost = true;
    link.socket.destroy();
    const why = failure === undefined ? 'the agent closed the connection' : errorMessage(failure);
    for (const pending of link.pending.values()) pending.settle({ error: new UnreachableError(`serf ${pending.command} on ${this.address} failed: ${why}`) });
    link.pending.clear();
    if (this.current === link) {
      this.current = undefined;
      this.link = undefined;
    }
    if (this.closed) return;
    if (this.subscriptions.size > 0) {
      this.log?.warn({ reason: why }, 'lost the serf RPC connection; its event streams will reconnect');
      void this.reconnect();
    }
  }

  /** Tries again after 100 ms, 200 ms ... up to the cap, until the streams are back or the connection is closed. */
  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const cap = this.options.reconnectCapMs ?? RECONNECT_CAP_MS;
    let delay = RECONNECT_FIRST_MS;
    let lastSaid = '';
    try {
      while (!this.closed && this.subscriptions.size > 0) {
        try {
          await pause(delay, this.closing.signal);
          const link = await this.connected();
          for (const subscription of this.subscriptions) if (![...link.streams.values()].some((s) => s.subscription === subscription)) await this.subscribe(link, subscription);
          this.log?.info('serf RPC connection and event streams are back');
          return;
        } catch (error) {
          if (this.closed) return;
          // Each new reason once: a long outage is not a log line per attempt.
          if (errorMessage(error) !== lastSaid) this.log?.warn({ err: errorMessage(error), retryInMs: Math.min(delay * 2, cap) }, 'serf RPC reconnect failed');
          lastSaid = errorMessage(error);
          if (error instanceof GrapevineError && error.code === 'serf_rpc') delay = cap;
          delay = Math.min(delay * 2, cap);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }
}
