// The few Docker Engine API calls a host needs, over the engine's Unix socket with
// node:http. A full client library cost each agent ~12 MB of resident memory for
// four endpoints.
import { request, type IncomingMessage } from 'node:http';
import { UnreachableError, GrapevineError, errorMessage } from '../contract/errors.js';

const API = '/v1.41';
const REQUEST_TIMEOUT_MS = 30_000;

export interface ContainerSummary {
  Id: string;
  Created: number;
}

export interface ContainerDetails {
  Config: { Image: string };
  State: {
    Running: boolean;
    ExitCode: number;
    Health?: { Status: string; Log?: Array<{ Output?: string }> };
  };
}

type Filters = Record<string, string[]>;

export class DockerEngine {
  constructor(private readonly socketPath: string) {}

  listContainers(filters: Filters): Promise<ContainerSummary[]> {
    return this.json('GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify(filters))}`);
  }

  inspect(id: string): Promise<ContainerDetails> {
    return this.json('GET', `/containers/${encodeURIComponent(id)}/json`);
  }

  /** Pulls an image; the engine streams progress lines and reports a failure in one of them. */
  async pull(image: string, signal: AbortSignal): Promise<void> {
    const response = await this.open('POST', `/images/create?fromImage=${encodeURIComponent(image)}`, signal, 0);
    let failure: string | undefined;
    for await (const message of jsonLines(response)) {
      const error = (message as { error?: string }).error;
      if (error) failure ??= error;
    }
    if (failure) throw new GrapevineError('pull_failed', failure);
  }

  /** The engine's event stream, filtered; the caller destroys the response when done. */
  events(filters: Filters): Promise<IncomingMessage> {
    return this.open('GET', `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`, undefined, 0);
  }

  private async json<T>(method: string, path: string): Promise<T> {
    const response = await this.open(method, path, AbortSignal.timeout(REQUEST_TIMEOUT_MS), REQUEST_TIMEOUT_MS);
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }

  /** Sends a request; resolves with a 2xx response, rejects with the engine's message otherwise. */
  private open(method: string, path: string, signal: AbortSignal | undefined, idleTimeoutMs: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path: `${API}${path}`, signal, timeout: idleTimeoutMs || undefined }, (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(response);
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let message = body.trim();
          try {
            message = (JSON.parse(body) as { message?: string }).message ?? message;
          } catch {
            // not JSON: keep the text
          }
          reject(new GrapevineError('docker_error', `docker ${method} ${path.split('?')[0]}: ${status} ${message}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${idleTimeoutMs} ms`)));
      req.on('error', (error) => {
        reject(signal?.aborted ? error : new UnreachableError(`docker engine at ${this.socketPath}: ${errorMessage(error)}`, { cause: error }));
      });
      req.end();
    });
  }
}

/** Parses a stream of JSON objects, one per line, as the engine sends progress and events. */
async function* jsonLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<unknown> {
  let buffered = '';
  for await (const chunk of stream) {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== '') yield JSON.parse(line);
    }
  }
  if (buffered.trim() !== '') yield JSON.parse(buffered);
}
