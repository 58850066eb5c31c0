// What the coordinator needs from a container registry to pin a release: the digest of the
// manifest a tag names now, or proof that a named digest exists.
import type { AllowedRegistry } from '../contract/allowed-registries.js';
import { GrapevineError } from '../contract/errors.js';
import type { ImageReference } from '../contract/image-reference.js';

/** The registry answered that it has no such repository, tag or digest. */
export class ImageNotFoundError extends GrapevineError {
  constructor(message: string) {
    super('image_not_found', message);
  }
}

/** The registry answered, but not with a manifest: it asks for credentials, or its answer is unusable. */
export class RegistryRefusedError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('registry_refused', message, options);
  }
}

export interface ImageRegistry {
  /**
   * The manifest's digest (`sha256:...`) for `image`'s tag, or its own digest once the registry
   * holds it. Throws ImageNotFoundError, RegistryRefusedError, or an UnreachableError when the
   * registry does not answer in time.
   */
  manifestDigest(image: ImageReference, registry: AllowedRegistry, signal?: AbortSignal): Promise<string>;
}
