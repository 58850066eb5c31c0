// Publishing a release: the image must come from an allowed registry, and its tag is
// resolved to the manifest's digest once, so what hosts run can never change afterwards.
import { allowedRegistryOf, describeAllowed, type AllowedRegistry } from '../shared/contract/allowed-registries.js';
import { ConflictError, GrapevineError } from '../shared/contract/errors.js';
import { parseImageReference, pinnedReference } from '../shared/contract/image-reference.js';
import type { Logger } from '../shared/contract/logger.js';
import type { PublishReleaseBody, Release } from '../shared/contract/schemas.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import type { ImageRegistry } from '../shared/ports/image-registry.js';

/** An image from a registry the coordinator's `registries` does not list. */
export class RegistryNotAllowedError extends GrapevineError {
  constructor(message: string) {
    super('registry_not_allowed', message);
  }
}

export interface ReleasePublisherDeps {
  store: Pick<DeployStore, 'getRelease' | 'publishRelease'>;
  registry: ImageRegistry;
  /** Where a release's image lives when a publish names none: `${defaultRegistry}/ROLE:TAG`. */
  defaultRegistry: string;
  allowed: AllowedRegistry[];
  logger: Logger;
  now: () => number;
}

export class ReleasePublisher {
  readonly #deps: ReleasePublisherDeps;
  readonly #logger: Logger;

  constructor(deps: ReleasePublisherDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'release-publisher' });
  }

  /**
   * Stores the release pinned to its digest (`created`), or returns the one already published
   * from the same image reference, with the digest it got then. Nothing is stored when the
   * image is malformed or not allowed (400), unknown to the registry (404), or the registry
   * does not answer (502); a tag already published from another image is a 409.
   */
  async publish(body: PublishReleaseBody): Promise<{ created: boolean; release: Release }> {
    const { store, registry, defaultRegistry, allowed, now } = this.#deps;
    const asPublished = body.image ?? `${defaultRegistry}/${body.role}:${body.tag}`;
    const image = parseImageReference(asPublished);
    const from = allowedRegistryOf(image, allowed);
    if (!from) {
      throw new RegistryNotAllowedError(
        `image ${asPublished} is not from an allowed registry (${image.registry}); images may come from: ${describeAllowed(allowed)}`,
      );
    }
    // A tag published before keeps the digest it got then, whatever the registry's tag points at now.
    const existing = await store.getRelease(body.role, body.tag);
    if (existing) return { created: false, release: sameImage(existing, asPublished) };

    const digest = await registry.manifestDigest(image, from);
    const release: Release = {
      role: body.role,
      tag: body.tag,
      image: pinnedReference(image, digest),
      publishedImage: asPublished,
      digest,
      publishedAt: now(),
    };
    const stored = await store.publishRelease(release);
    if (!stored.created) return { created: false, release: sameImage(stored.release, asPublished) };
    this.#logger.info({ role: release.role, tag: release.tag, image: asPublished, digest, pinned: release.image }, 'release published');
    return stored;
  }
}

/** The stored release when it was published from `asPublished`; a clash otherwise. */
function sameImage(stored: Release, asPublished: string): Release {
  // Releases published before digests were resolved keep only the reference they were published with.
  const storedAs = stored.publishedImage ?? stored.image;
  if (storedAs === asPublished) return stored;
  throw new ConflictError(
    'release_exists',
    `release ${stored.role}:${stored.tag} is already published with image ${storedAs}, not ${asPublished}; publish a new tag`,
  );
}
