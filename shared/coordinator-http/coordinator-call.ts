// One request to the coordinator, as the client and the CLI's lean create both send it: the
// bearer token, an idempotency key on every POST, the list of coordinators tried in turn, the
// answer's status mapped to a typed error and its body checked by the caller's schema.
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type * as z from 'zod';
import { GrapevineError } from '../contract/errors.js';
import { describeIssues } from '../contract/parse-input.js';
import { readCaFile } from '../http/ca-file.js';
import { parseJson } from '../http/http-exchange.js';
import type { CoordinatorClientOptions } from './coordinator-client.js';
import { CoordinatorEndpoints, errorFor } from './coordinator-transport.js';

export type CallMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export class CoordinatorCaller {
  readonly endpoints: CoordinatorEndpoints;
  readonly #token: string;
  readonly #timeoutMs: number;
  /** Keeps connections open between an agent's progress reports; idle ones never hold a process open. */
  readonly #agents: { http: HttpAgent; https: HttpsAgent };
  /** Which CAs an https:// coordinator is checked against, for the error when its certificate does not verify. */
  readonly #trusted: string;

  constructor({ url, token, timeoutMs = 10_000, caFile }: CoordinatorClientOptions) {
    this.endpoints = new CoordinatorEndpoints(url);
    this.#token = token;
    this.#timeoutMs = timeoutMs;
    const https = this.endpoints.urls.some((base) => base.startsWith('https:'));
    this.#agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true, ...(https && caFile ? { ca: readCaFile(caFile) } : {}) }) };
    this.#trusted = caFile ? `the CAs in ${caFile}` : "Node.js's public CAs (no CA file given: --ca-file, GRAPEVINE_CA_FILE or caFile)";
  }

  async call<T>(method: CallMethod, path: string, schema: z.ZodType<T>, body?: unknown, timeoutMs = this.#timeoutMs): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // One key per call, the same on every coordinator it is tried on: a retried create that
    // reached a coordinator before it died gives back that deploy, not a second one.
    if (method === 'POST') headers['idempotency-key'] = randomUUID();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const { status, text, url } = await this.endpoints.exchange({ method, path, headers, body: payload, timeoutMs, agents: this.#agents, trusted: this.#trusted });
    // No content reads as null: only an answer whose schema allows it can be empty.
    const json = status === 204 ? null : parseJson(text);
    if (status < 200 || status > 299) throw errorFor(status, json, text, `${method} ${url}`);
    const result = schema.safeParse(json);
    if (!result.success) throw new GrapevineError('coordinator_error', `unexpected answer to ${method} ${url}: ${describeIssues(result.error)}`);
    return result.data;
  }
}
