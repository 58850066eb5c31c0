// One request to the coordinator, as the client and the CLI's lean create both send it: the
// bearer token, an idempotency key on every POST, the list of coordinators tried in turn, the
// answer's status mapped to a typed error and its body checked by the caller's schema.
import { randomUUID } from 'node:crypto';
import type { Agent as HttpsAgent } from 'node:https';
import type * as z from 'zod';
import { GrapevineError } from '../contract/errors.js';
import { describeIssues } from '../contract/parse-input.js';
import { readCaFile } from '../http/ca-file.js';
import { parseJson } from '../http/http-exchange.js';
import { http, https } from '../http/node-http.js';
import type { CoordinatorClientOptions } from './coordinator-client.js';
import { CoordinatorEndpoints, errorFor } from './coordinator-transport.js';

export type CallMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export class CoordinatorCaller {
  readonly endpoints: CoordinatorEndpoints;
  readonly #token: string;
  readonly #timeoutMs: number;
  /** Keep connections open between an agent's progress reports; idle ones never hold a process open. */
  readonly #http = new http.Agent({ keepAlive: true });
  #https: HttpsAgent | undefined;
  /** Made on the first https:// request: node:https loads only for a coordinator that needs it. */
  readonly #httpsAgent = (): HttpsAgent => (this.#https ??= new (https().Agent)({ keepAlive: true, ...(this.#ca === undefined ? {} : { ca: this.#ca }) }));
  /** The CA file's certificates, read (and refused when unreadable) when the caller is made. */
  readonly #ca: string | undefined;
  /** Which CAs an https:// coordinator is checked against, for the error when its certificate does not verify. */
  readonly #trusted: string;

  constructor({ url, token, timeoutMs = 10_000, caFile, spreadBy }: CoordinatorClientOptions) {
    this.endpoints = new CoordinatorEndpoints(url, spreadBy);
    this.#token = token;
    this.#timeoutMs = timeoutMs;
    const https = this.endpoints.urls.some((base) => base.startsWith('https:'));
    this.#ca = https && caFile ? readCaFile(caFile) : undefined;
    this.#trusted = caFile ? `the CAs in ${caFile}` : "Node.js's public CAs (no CA file given: --ca-file, GRAPEVINE_CA_FILE or caFile)";
  }

  /** Closes the connections kept open for later calls; a call after it opens a new one. */
  close(): void {
    this.#http.destroy();
    this.#https?.destroy();
  }

  async call<T>(method: CallMethod, path: string, schema: z.ZodType<T>, body?: unknown, timeoutMs = this.#timeoutMs): Promise<T> {
    const { json, url } = await this.answer(method, path, body, timeoutMs);
    const result = schema.safeParse(json);
    if (!result.success) throw unexpectedAnswer(method, url, describeIssues(result.error));
    return result.data;
  }

  /** The body of a successful answer, as JSON, for a caller that checks it itself; an error answer throws. */
  async answer(method: CallMethod, path: string, body?: unknown, timeoutMs = this.#timeoutMs): Promise<{ json: unknown; url: string }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // One key per call, the same on every coordinator it is tried on: a retried create that
    // reached a coordinator before it died gives back that deploy, not a second one.
    if (method === 'POST') headers['idempotency-key'] = randomUUID();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const agents = { http: this.#http, https: this.#httpsAgent };
    const { status, text, url } = await this.endpoints.exchange({ method, path, headers, body: payload, timeoutMs, agents, trusted: this.#trusted });
    // No content reads as null: only an answer whose schema allows it can be empty.
    const json = status === 204 ? null : parseJson(text);
    if (status < 200 || status > 299) throw errorFor(status, json, text, `${method} ${url}`);
    return { json, url };
  }
}

/** An answer of the right status whose body is not what was asked for: `problem` names the fields. */
export function unexpectedAnswer(method: CallMethod, url: string, problem: string): GrapevineError {
  return new GrapevineError('coordinator_error', `unexpected answer to ${method} ${url}: ${problem}`);
}

