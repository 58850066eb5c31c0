// The Engine API calls a host makes (list, inspect, pull, events), through dockerode at
// the negotiated version, each reply checked for the fields the code reads. The engine is
// asked for its version at the first call, not at start: an agent starts while Docker is down.
import type { Readable } from 'node:stream';
import * as z from 'zod';
import { GrapevineError, UnreachableError, errorMessage } from '../contract/errors.js';
import { connectDocker, dockerReply, type DockerConnection } from './docker-client.js';
import { saysNoAnswer } from './no-answer.js';
import { untilAborted } from '../contract/waiting.js';

const REQUEST_TIMEOUT_MS = 30_000;

const ContainerSummary = z.object({ Id: z.string(), Created: z.number() });
export type ContainerSummary = z.infer<typeof ContainerSummary>;

const ContainerDetails = z.object({
  Config: z.object({ Image: z.string() }),
  /** How often a restart policy started the container again. */
  RestartCount: z.number().default(0),
  State: z.object({
    Running: z.boolean(),
    Restarting: z.boolean().default(false),
    ExitCode: z.number(),
    Health: z
      .object({ Status: z.string(), Log: z.array(z.object({ Start: z.string().optional(), Output: z.string().optional() })).nullish() })
      .nullish(),
  }),
});
export type ContainerDetails = z.infer<typeof ContainerDetails>;

const ImageDetails = z.object({ Id: z.string(), RepoDigests: z.array(z.string()).nullish() });
export type ImageDetails = z.infer<typeof ImageDetails>;

/** One line of the engine's pull progress; a failure arrives as a line with `error`. */
const PullProgress = z.object({ error: z.string().optional(), errorDetail: z.object({ message: z.string().optional() }).optional() });
/** One line of the engine's event stream. */
const EngineEvent = z.object({ Type: z.string(), Action: z.string() });
export type EngineEvent = z.infer<typeof EngineEvent>;

type Filters = Record<string, string[]>;

/** A failure the engine reported, or a reply that could not be read. */
export class DockerEngineError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('docker_error', message, options);
  }
}

export class DockerEngineApi {
  private connecting: Promise<DockerConnection> | undefined;

  constructor(private readonly socketPath: string) {}

  /** The negotiated connection; a failed negotiation is asked again at the next call. */
  connection(): Promise<DockerConnection> {
    this.connecting ??= connectDocker(this.socketPath).catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  async listContainers(filters: Filters): Promise<ContainerSummary[]> {
    const { docker } = await this.connection();
    const reply = await this.call('GET /containers/json', undefined, (abortSignal) => docker.listContainers({ all: true, filters, abortSignal }));
    return dockerReply(z.array(ContainerSummary), reply, 'GET /containers/json');
  }

  async inspect(id: string): Promise<ContainerDetails> {
    const { docker } = await this.connection();
    const reply = await this.call('GET /containers/{id}/json', undefined, (abortSignal) => docker.getContainer(id).inspect({ abortSignal }));
    return dockerReply(ContainerDetails, reply, 'GET /containers/{id}/json');
  }

  /** The image's id and repo digests; null when the engine has no such image. */
  async inspectImage(image: string, signal: AbortSignal): Promise<ImageDetails | null> {
    const { docker } = await this.connection();
    try {
      const reply = await this.call('GET /images/{name}/json', signal, (abortSignal) =>
        // Dockerode's image inspect takes no abort signal: the wait for it is given up instead.
        untilAborted(docker.getImage(image).inspect(), abortSignal, () => undefined),
      );
      return dockerReply(ImageDetails, reply, 'GET /images/{name}/json');
    } catch (error) {
      if (error instanceof DockerEngineError && error.message.includes(': 404 ')) return null;
      throw error;
    }
  }

  /** Pulls `image`; resolves when the engine's progress stream ends without a failure in any of its lines. */
  async pull(image: string, signal: AbortSignal): Promise<void> {
    const { docker } = await this.connection();
    const stream = (await this.call('POST /images/create', signal, (abortSignal) => docker.pull(image, { abortSignal }))) as Readable;
    let failure: string | undefined;
    for await (const message of jsonLines(stream, 'POST /images/create', PullProgress)) {
      failure ??= message.error ?? message.errorDetail?.message;
    }
    signal.throwIfAborted();
    if (failure === undefined) return;
    // The registry not answering is no verdict on the image.
    if (saysNoAnswer(failure)) throw new UnreachableError(`the engine could not reach the registry of ${image}: ${failure}`);
    throw new DockerEngineError(`the engine failed to pull ${image}: ${failure}`);
  }

  /** The engine's event stream, filtered, until `signal` fires or the engine closes it. */
  async events(filters: Filters, signal: AbortSignal): Promise<AsyncIterable<EngineEvent>> {
    const { docker } = await this.connection();
    const stream = (await this.call('GET /events', signal, (abortSignal) => docker.getEvents({ filters, abortSignal }))) as Readable;
    return jsonLines(stream, 'GET /events', EngineEvent);
  }

  /**
   * Makes a call, turning dockerode's failures into errors that name the call. A call with
   * no `signal` of its caller gets REQUEST_TIMEOUT_MS; a stream's caller bounds it.
   */
  private async call<T>(what: string, signal: AbortSignal | undefined, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const bound = signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      return await request(bound);
    } catch (error) {
      signal?.throwIfAborted();
      if (bound.aborted) throw new UnreachableError(`docker engine at ${this.socketPath}: ${what}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
      const status = (error as { statusCode?: unknown }).statusCode;
      if (typeof status === 'number') {
        const message = (error as { json?: { message?: unknown } }).json?.message;
        const text = `docker ${what}: ${status} ${typeof message === 'string' ? message : errorMessage(error)}`;
        // A 500 whose message is a network error is the engine relaying a registry that did not answer.
        if (status >= 500 && saysNoAnswer(text)) throw new UnreachableError(text, { cause: error });
        throw new DockerEngineError(text, { cause: error });
      }
      throw new UnreachableError(`docker engine at ${this.socketPath}: ${what}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

/** The JSON objects of a stream that carries one per line, as the engine sends progress and events, each checked with `schema`. */
async function* jsonLines<S extends z.ZodType>(stream: Readable, call: string, schema: S): AsyncGenerator<z.output<S>> {
  const parse = (line: string): z.output<S> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new DockerEngineError(`docker ${call} sent a line that is not JSON: ${line.slice(0, 200)}`, { cause: error });
    }
    return dockerReply(schema, parsed, call);
  };
  let buffered = '';
  try {
    // Iterating the stream itself, so a dropped connection ends the loop with an error, not quietly.
    for await (const chunk of stream) {
      buffered += String(chunk);
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield parse(line);
      }
    }
    if (buffered.trim() !== '') yield parse(buffered.trim());
  } finally {
    stream.destroy();
  }
}
