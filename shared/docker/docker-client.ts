// Connects dockerode to an engine's Unix socket at the Engine API version both sides
// speak: the engine's own version, capped at the newest this code knows. Engines refuse
// clients below their minimum (Docker 29 refuses anything under 1.44), so no version is
// pinned; replies are checked with zod where the code reads them.
import Docker from 'dockerode';
import * as z from 'zod';
import { GrapevineError, UnreachableError, errorMessage } from '../contract/errors.js';

/** Docker 20.10: the oldest engine whose replies this code reads. */
export const OLDEST_API_VERSION = '1.41';
/** Docker 29.0: the newest Engine API this code was written against. */
export const NEWEST_API_VERSION = '1.52';

const VERSION_TIMEOUT_MS = 10_000;

/** The engine speaks no Engine API version this code can use. */
export class DockerApiVersionError extends GrapevineError {
  constructor(message: string) {
    super('docker_api_unsupported', message);
  }
}

/** An engine reply lacks what the code reads from it. */
export class DockerReplyError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('docker_reply_invalid', message, options);
  }
}

export interface DockerConnection {
  /** dockerode, every request prefixed with `/v<apiVersion>`. */
  docker: Docker;
  /** The negotiated Engine API version, e.g. "1.41". */
  apiVersion: string;
  /** The engine's release, e.g. "20.10.24". */
  engineVersion: string;
}

const apiVersion = z.string().regex(/^\d+\.\d+$/, 'an Engine API version like 1.41');
const versionReply = z.object({
  Version: z.string(),
  ApiVersion: apiVersion,
  MinAPIVersion: apiVersion.optional(),
});

/** Asks the engine at `socketPath` for its versions and returns dockerode pinned to the one both speak. */
export async function connectDocker(socketPath: string, options: { signal?: AbortSignal } = {}): Promise<DockerConnection> {
  // `host: undefined` keeps a DOCKER_HOST in the environment from overriding the socket.
  const unversioned = new Docker({ socketPath, host: undefined });
  const timeout = AbortSignal.timeout(VERSION_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let reply: unknown;
  try {
    // dockerode takes an abortSignal here; its type declarations only lack the overload.
    const version = unversioned.version.bind(unversioned) as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    reply = await version({ abortSignal: signal });
  } catch (error) {
    options.signal?.throwIfAborted();
    throw new UnreachableError(`docker engine at ${socketPath}: ${errorMessage(error)}`, { cause: error });
  }
  const engine = dockerReply(versionReply, reply, 'GET /version');
  const chosen = negotiateApiVersion(engine.ApiVersion, engine.MinAPIVersion);
  return {
    docker: new Docker({ socketPath, host: undefined, version: `v${chosen}` }),
    apiVersion: chosen,
    engineVersion: engine.Version,
  };
}

/** min(engine's version, newest known); refuses below the oldest supported or below the engine's minimum. */
export function negotiateApiVersion(engineApi: string, engineMinApi?: string): string {
  const chosen = compareApiVersions(engineApi, NEWEST_API_VERSION) < 0 ? engineApi : NEWEST_API_VERSION;
  if (compareApiVersions(chosen, OLDEST_API_VERSION) < 0) {
    throw new DockerApiVersionError(
      `docker engine speaks Engine API ${engineApi}; Grapevine needs ${OLDEST_API_VERSION} or newer (Docker 20.10 or later)`,
    );
  }
  if (engineMinApi !== undefined && compareApiVersions(chosen, engineMinApi) < 0) {
    throw new DockerApiVersionError(
      `docker engine needs Engine API ${engineMinApi} or newer; Grapevine speaks at most ${NEWEST_API_VERSION}`,
    );
  }
  return chosen;
}

/** Orders two "major.minor" versions numerically (1.9 < 1.41). */
export function compareApiVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/** Parses an engine reply with `schema`; a mismatch names the call and the fields that are wrong. */
export function dockerReply<S extends z.ZodType>(schema: S, reply: unknown, call: string): z.output<S> {
  const parsed = schema.safeParse(reply);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(reply)'}: ${issue.message}`).join('; ');
  throw new DockerReplyError(`docker ${call} replied with something unexpected: ${problems}`, { cause: parsed.error });
}
