// The registry's HTTP API v2 (the OCI distribution API), as far as pinning a release needs
// it: HEAD a manifest for its Docker-Content-Digest, or GET it and hash its bytes.
import { createHash } from 'node:crypto';
import type { AllowedRegistry } from '../contract/allowed-registries.js';
import { UnreachableError, errorMessage } from '../contract/errors.js';
import { DIGEST_PATTERN, manifestReference, repositoryName, type ImageReference } from '../contract/image-reference.js';
import { ImageNotFoundError, RegistryRefusedError, type ImageRegistry } from '../ports/image-registry.js';

/** Every manifest kind a host's engine may pull: multi-platform indexes first, as `docker pull` asks. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
];

/** A registry answers a manifest request in milliseconds; ten seconds is one that is down or cut off. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Registries refuse manifests over 4 MiB; anything larger is not a manifest. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface RegistryHttpClientOptions {
  /** The bound on each request; REQUEST_TIMEOUT_MS unless given. */
  timeoutMs?: number;
}

/** Registry credentials are not sent: a registry that asks for them is refused with a message saying so. */
export class RegistryHttpClient implements ImageRegistry {
  readonly #timeoutMs: number;

  constructor(options: RegistryHttpClientOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  async manifestDigest(image: ImageReference, registry: AllowedRegistry, signal?: AbortSignal): Promise<string> {
    const head = await this.#request('HEAD', image, registry, signal);
    const announced = head.headers.get('docker-content-digest');
    if (announced !== null && DIGEST_PATTERN.test(announced)) return sameAsAsked(image, announced, registry);
    // No sha256 digest in the header: the digest is the hash of the manifest's bytes as the registry serves them.
    const got = await this.#request('GET', image, registry, signal);
    const body = await readBounded(got, MAX_MANIFEST_BYTES, () => this.#what(image, registry));
    return sameAsAsked(image, `sha256:${createHash('sha256').update(body).digest('hex')}`, registry);
  }

  async #request(method: 'HEAD' | 'GET', image: ImageReference, registry: AllowedRegistry, signal?: AbortSignal): Promise<Response> {
    const url = manifestUrl(image, registry);
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
        // A redirect could lead anywhere; a manifest is served by the registry itself.
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      throw this.#unreachable(image, registry, error, timeout.aborted);
    }
    if (response.status === 200) return response;
    await response.body?.cancel().catch(() => undefined);
    const what = this.#what(image, registry);
    if (response.status === 404) throw new ImageNotFoundError(`${what}: the registry has no such manifest (404); push the image first`);
    if (response.status === 401 || response.status === 403) {
      throw new RegistryRefusedError(`${what}: the registry asks for credentials (${response.status}), and the coordinator sends none to registries`);
    }
    throw new RegistryRefusedError(`${what}: the registry answered ${method} ${url} with ${response.status} ${response.statusText}`.trimEnd());
  }

  #unreachable(image: ImageReference, registry: AllowedRegistry, error: unknown, timedOut: boolean): UnreachableError {
    const what = this.#what(image, registry);
    if (timedOut) return new UnreachableError(`${what}: the registry did not answer within ${this.#timeoutMs / 1000} s`, { cause: error });
    // fetch says only "fetch failed"; the socket's own error is its cause.
    const cause = (error as { cause?: unknown }).cause ?? error;
    const hint = registry.plainHttp ? '' : ' (a registry served over plain http needs plainHttp: true in the coordinator\'s registries)';
    return new UnreachableError(`${what}: cannot reach the registry over ${registry.plainHttp ? 'http' : 'https'}: ${errorMessage(cause)}${hint}`, { cause: error });
  }

  #what(image: ImageReference, registry: AllowedRegistry): string {
    return `cannot resolve ${repositoryName(image)}:${manifestReference(image)} at ${registry.plainHttp ? 'http' : 'https'}://${image.registry}`;
  }
}

/** Docker Hub's API lives on its own host. */
function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

function manifestUrl(image: ImageReference, registry: AllowedRegistry): string {
  return `${registry.plainHttp ? 'http' : 'https'}://${apiHost(image.registry)}/v2/${image.repository}/manifests/${manifestReference(image)}`;
}

/** A digest named in the reference must be the one the registry serves, or the release would not be what was asked for. */
function sameAsAsked(image: ImageReference, digest: string, registry: AllowedRegistry): string {
  if (image.digest !== undefined && image.digest !== digest) {
    throw new RegistryRefusedError(
      `${repositoryName(image)}@${image.digest} at ${registry.address}: the registry served a manifest whose digest is ${digest}`,
    );
  }
  return digest;
}

async function readBounded(response: Response, maxBytes: number, what: () => string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new RegistryRefusedError(`${what()}: the manifest is over ${maxBytes} bytes`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}
