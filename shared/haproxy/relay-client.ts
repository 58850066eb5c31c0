// An agent's load balancer through the relay on the load-balancer host (`grapevine lb-relay`):
// the same drain, register and read as the runtime API, sent over HTTP(S) with the host's
// credential, so no host ever opens HAProxy's admin socket. With an operator credential it is
// also the coordinator's TrafficControl: a backend's weights and its servers' traffic.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import * as z from 'zod';
import { ForbiddenError, GrapevineError, TimeoutError, UnauthorizedError, UnreachableError, ValidationError, errorMessage } from '../contract/errors.js';
import type { Logger } from '../contract/logger.js';
import { describeIssues } from '../contract/schemas.js';
import { readCaFile } from '../http/ca-file.js';
import { ExchangeTimeoutError, exchangeReusing, parseJson } from '../http/http-exchange.js';
import { CertificateError, certificateProblem, isPlainHttpAnswer } from '../http/tls-failure.js';
import type { DeployContext } from '../ports/deploy-context.js';
import type { BackendServer, LoadBalancer, RegisterOptions } from '../ports/load-balancer.js';
import type { ServerTraffic, TrafficControl, WeightedServer } from '../ports/traffic.js';
import type { RouteTable } from '../contract/routing.js';
import { FrontendAnswer, RelayErrorBody, ServersAnswer, TrafficAnswer, WeightsAnswer, relayPaths, routingPaths } from './relay-contract.js';

export interface HAProxyRelayClientOptions {
  /** `https://lb.internal:7701`. */
  url: string;
  /** The host's credential, the same token it presents to the coordinator (the coordinator's: an operator credential). */
  token: string;
  /** How long the relay waits for the server's sessions to end before maintenance; 10 s unless given. */
  drainTimeoutMs?: number;
  /** PEM file of the CAs that sign the relay's certificate; Node.js's public CAs without it. */
  caFile?: string | undefined;
  logger: Logger;
  /** A read or a register, connecting included; 30 s unless given. A drain has its own timeout on top. */
  requestTimeoutMs?: number;
}

/** What the relay itself may take on top of a drain's own timeout: the commands around it. */
const DRAIN_MARGIN_MS = 20_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
const Ok = z.object({ ok: z.literal(true) });

export class HAProxyRelayClient implements LoadBalancer, TrafficControl {
  readonly url: string;
  readonly #token: string;
  readonly #drainTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #agent: HttpAgent;
  readonly #logger: Logger;

  constructor(options: HAProxyRelayClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    const protocol = URL.canParse(this.url) ? new URL(this.url).protocol : '';
    if (protocol !== 'http:' && protocol !== 'https:') throw new ValidationError(`relay URL ${options.url} must start with http:// or https://`);
    this.#token = options.token;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#agent = protocol === 'https:' ? new HttpsAgent({ keepAlive: true, ...(options.caFile ? { ca: readCaFile(options.caFile) } : {}) }) : new HttpAgent({ keepAlive: true });
    this.#logger = options.logger.child({ component: 'lb-relay-client', relay: this.url });
  }

  async drain(backend: string, server: string, context?: DeployContext): Promise<void> {
    const body = { timeoutMs: this.#drainTimeoutMs };
    await this.#request('POST', relayPaths.drain(backend, server), Ok, body, this.#drainTimeoutMs + DRAIN_MARGIN_MS, context);
    (context?.logger ?? this.#logger).info({ backend, server }, 'server drained through the relay');
  }

  async register(backend: string, server: string, address: string, context?: DeployContext, options: RegisterOptions = {}): Promise<void> {
    const body = options.weight === undefined ? { address } : { address, weight: options.weight };
    await this.#request('POST', relayPaths.register(backend, server), Ok, body, this.#requestTimeoutMs, context);
    (context?.logger ?? this.#logger).info({ backend, server, address, weight: options.weight }, 'server registered through the relay');
  }

  async setWeights(backend: string, weights: Record<string, number>, signal?: AbortSignal): Promise<void> {
    await this.#request('POST', relayPaths.weights(backend), Ok, { weights }, this.#requestTimeoutMs, this.#contextOf(signal));
    this.#logger.info({ backend, weights }, 'weights set through the relay');
  }

  async weights(backend: string, signal?: AbortSignal): Promise<WeightedServer[]> {
    return (await this.#request('GET', relayPaths.weights(backend), WeightsAnswer, undefined, this.#requestTimeoutMs, this.#contextOf(signal))).servers;
  }

  async traffic(backend: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<ServerTraffic[]> {
    const path = relayPaths.traffic(backend, Math.floor(fromMs), Math.ceil(toMs));
    return (await this.#request('GET', path, TrafficAnswer, undefined, this.#requestTimeoutMs, this.#contextOf(signal))).servers;
  }

  /** A routed frontend's clusters, their backends and the table applied last. */
  async frontend(frontend: string, signal?: AbortSignal): Promise<FrontendAnswer> {
    return this.#request('GET', routingPaths.frontend(frontend), FrontendAnswer, undefined, this.#requestTimeoutMs, this.#contextOf(signal));
  }

  /** Applies a whole table; a cluster the frontend lacks is refused (ValidationError, code unknown_cluster on the wire) and nothing changes. */
  async setRoutes(frontend: string, table: RouteTable, signal?: AbortSignal): Promise<void> {
    await this.#request('PUT', routingPaths.routes(frontend), Ok, table, this.#requestTimeoutMs, this.#contextOf(signal));
    this.#logger.info({ frontend, routes: table.routes.length, defaultCluster: table.defaultCluster }, 'routes applied through the relay');
  }

  /** Every server of a retired cluster's backend into maintenance; answers them as they are after it. */
  async maintenance(backend: string, signal?: AbortSignal): Promise<BackendServer[]> {
    return (await this.#request('POST', routingPaths.maintenance(backend), ServersAnswer, {}, this.#requestTimeoutMs, this.#contextOf(signal))).servers;
  }

  #contextOf(signal: AbortSignal | undefined): DeployContext | undefined {
    return signal ? { signal, logger: this.#logger } : undefined;
  }

  async servers(backend: string): Promise<BackendServer[]> {
    return (await this.#request('GET', relayPaths.servers(backend), ServersAnswer, undefined, this.#requestTimeoutMs)).servers;
  }

  async #request<T>(method: 'GET' | 'POST' | 'PUT', path: string, schema: z.ZodType<T>, body: unknown, timeoutMs: number, context?: DeployContext): Promise<T> {
    const url = `${this.url}${path}`;
    const what = `${method} ${url}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let answer: { status: number; text: string };
    try {
      // A host's last call may be a deploy ago, on a connection the relay has closed since.
      answer = await exchangeReusing({ url, method, headers, body: payload, timeoutMs, agent: this.#agent, signal: context?.signal });
    } catch (error) {
      if (context?.signal.aborted) throw context.signal.reason;
      const problem = certificateProblem(error);
      if (problem !== undefined) throw new CertificateError(`load balancer relay at ${this.url}: ${problem}`, { cause: error });
      if (error instanceof ExchangeTimeoutError) throw new TimeoutError(`load balancer relay at ${this.url} did not answer ${what} within ${timeoutMs} ms`, { cause: error });
      const why = isPlainHttpAnswer(error) ? 'does not speak TLS on that port (does it serve plain http://?)' : `is unreachable (${errorMessage(error)})`;
      throw new UnreachableError(`load balancer relay at ${this.url} ${why}`, { cause: error });
    }
    const json = parseJson(answer.text);
    if (answer.status < 200 || answer.status > 299) throw errorFor(answer.status, json, answer.text, what);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new GrapevineError('lb_relay_error', `unexpected answer to ${what}: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }
}

/** A refusal is the caller's to fix and is not tried again; the relay or HAProxy not answering is the fleet's fault (retried). */
function errorFor(status: number, json: unknown, text: string, what: string): GrapevineError {
  const parsed = RelayErrorBody.safeParse(json);
  const message = parsed.success ? `load balancer relay refused ${what}: ${parsed.data.error.message}` : `${what} answered ${status}: ${text.slice(0, 200) || '(empty body)'}`;
  if (status === 401) return new UnauthorizedError(message);
  if (status === 403) return new ForbiddenError(message);
  if (status === 400 || status === 404 || status === 413) return new ValidationError(message);
  if (status === 502 || status === 503) return new UnreachableError(message);
  if (status === 504) return new TimeoutError(message);
  return new GrapevineError(parsed.success ? parsed.data.error.code : 'lb_relay_error', message);
}
