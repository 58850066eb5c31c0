// The CLI's reader of the coordinator's event stream (`GET /v1/events`, server-sent events):
// one long GET to the first coordinator of the list that answers, its messages parsed as a
// browser's EventSource would, and a silence longer than the coordinator's heartbeat taken
// as a dead connection. Node's own http/https, so a CA file is honoured as the client does.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import { readCaFile } from '../../shared/http/ca-file.js';
import { parseJson } from '../../shared/http/http-exchange.js';
import { AllUnreachableError, CoordinatorEndpoints, errorFor } from '../../shared/coordinator-http/coordinator-transport.js';
import type { CoordinatorClientOptions } from '../../shared/coordinator-http/coordinator-client.js';

export interface StreamMessage {
  id?: string;
  event?: string;
  data: string;
}

/** The coordinator sends a comment every 15 s on a quiet stream; three missed in a row is a dead connection. */
export const STREAM_SILENCE_MS = 45_000;
/** Connecting and the answer's headers; the body then runs as long as the deploy does. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Splits a stream's text into messages: a blank line ends one; comments and `retry:` are skipped. */
export class SseParser {
  #buffer = '';
  #message: { id?: string; event?: string; data: string[] } = { data: [] };

  push(text: string): StreamMessage[] {
    this.#buffer += text;
    const lines = this.#buffer.split(/\r\n|\r|\n/);
    // The last piece has no line end yet: it waits for the next chunk.
    this.#buffer = lines.pop() ?? '';
    const messages: StreamMessage[] = [];
    for (const line of lines) {
      if (line === '') {
        const { id, event, data } = this.#message;
        if (data.length > 0 || event !== undefined) messages.push({ ...(id === undefined ? {} : { id }), ...(event === undefined ? {} : { event }), data: data.join('\n') });
        this.#message = { data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') this.#message.data.push(value);
      else if (field === 'event') this.#message.event = value;
      else if (field === 'id') this.#message.id = value;
    }
    return messages;
  }
}

/** One open stream: its messages in order, then undefined when it ended (closed, silent too long, or failed). */
export interface EventStream {
  next(): Promise<StreamMessage | undefined>;
  /** Why it ended, once next() gave undefined. */
  readonly endedBy: string | undefined;
  close(): void;
}

export interface OpenStreamOptions {
  /** `/v1/events?deploy=ID`. */
  path: string;
  lastEventId?: string;
  silenceMs?: number;
}

/** Opens event streams to the coordinators `connection` names, each tried in turn while unreachable. */
export class EventStreamClient {
  readonly #endpoints: CoordinatorEndpoints;
  readonly #token: string;
  readonly #ca: string | undefined;

  constructor(connection: CoordinatorClientOptions) {
    this.#endpoints = new CoordinatorEndpoints(connection.url);
    this.#token = connection.token;
    const https = this.#endpoints.urls.some((base) => base.startsWith('https:'));
    this.#ca = https && connection.caFile ? readCaFile(connection.caFile) : undefined;
  }

  /** Resolves once a coordinator answered 200; its error (UnreachableError, NotFoundError...) otherwise. */
  async open(options: OpenStreamOptions): Promise<EventStream> {
    try {
      return await this.#endpoints.send((base) => this.#openAt(base, options), CONNECT_TIMEOUT_MS * 2);
    } catch (error) {
      if (error instanceof AllUnreachableError) throw new UnreachableError(`event stream: no coordinator answered (${errorMessage(error.last.error)})`, { cause: error.last.error });
      throw error;
    }
  }

  async #openAt(base: string, { path, lastEventId, silenceMs = STREAM_SILENCE_MS }: OpenStreamOptions): Promise<EventStream> {
    const url = new URL(`${base}${path}`);
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    // node:https (and TLS) loads only for an https:// coordinator, as the client's requests do.
    const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(url, { method: 'GET', headers, ...(this.#ca === undefined ? {} : { ca: this.#ca }) });
      const connectTimer = setTimeout(() => request.destroy(Object.assign(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
      request.on('error', (error) => {
        clearTimeout(connectTimer);
        reject(error);
      });
      request.on('response', (response) => {
        clearTimeout(connectTimer);
        if (response.statusCode === 200) {
          resolve(new OpenEventStream(response, () => request.destroy(), silenceMs));
          return;
        }
        readAll(response).then(
          (text) => reject(errorFor(response.statusCode ?? 0, parseJson(text), text, `GET ${url.href}`)),
          (error: unknown) => reject(error),
        );
      });
      request.end();
    });
  }
}

class OpenEventStream implements EventStream {
  readonly #parser = new SseParser();
  readonly #queue: StreamMessage[] = [];
  readonly #close: () => void;
  readonly #silenceMs: number;
  #silence: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  endedBy: string | undefined;

  constructor(response: IncomingMessage, close: () => void, silenceMs: number) {
    this.#close = close;
    this.#silenceMs = silenceMs;
    response.setEncoding('utf8');
    this.#armSilence();
    response.on('data', (chunk: string) => {
      this.#armSilence();
      this.#queue.push(...this.#parser.push(chunk));
      this.#wake?.();
    });
    response.on('end', () => this.#end('the coordinator closed the stream'));
    response.on('error', (error) => this.#end(errorMessage(error)));
    response.on('close', () => this.#end('the connection closed'));
  }

  async next(): Promise<StreamMessage | undefined> {
    // Each wait ends by a chunk, the end, or the silence timer: never unbounded.
    while (this.#queue.length === 0 && this.endedBy === undefined) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    return this.#queue.shift();
  }

  close(): void {
    this.#end('closed by the reader');
  }

  #armSilence(): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => this.#end(`no word from the coordinator for ${Math.round(this.#silenceMs / 1000)} s`), this.#silenceMs);
  }

  #end(reason: string): void {
    if (this.endedBy !== undefined) return;
    this.endedBy = reason;
    clearTimeout(this.#silence);
    this.#close();
    this.#wake?.();
  }
}

/** An error answer's body, at most 64 KiB of it. */
function readAll(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      if (text.length < 65_536) text += chunk;
    });
    response.on('end', () => resolve(text));
    response.on('error', reject);
  });
}
