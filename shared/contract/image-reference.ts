// Docker image references (`registry:5000/team/web:v2`, `...@sha256:...`): parsed into
// registry, repository, tag and digest, and written back pinned to a digest.
import { GrapevineError } from './errors.js';

export interface ImageReference {
  /** host[:port]; `docker.io` when the reference names none, as Docker reads it. */
  registry: string;
  /** The repository within the registry: `web`, `team/web`, `library/nginx`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** A reference the image grammar refuses: malformed, upper case, or a digest other than sha256. */
export class InvalidImageReferenceError extends GrapevineError {
  constructor(message: string) {
    super('invalid_image', message);
  }
}

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

/** Docker's rule: the first component names a registry when it has a dot or a port, or is localhost. */
export function isRegistryHost(component: string): boolean {
  return DOMAIN.test(component) && (component.includes('.') || component.includes(':') || component === 'localhost');
}

export function parseImageReference(text: string): ImageReference {
  const refuse = (why: string) =>
    new InvalidImageReferenceError(`image ${JSON.stringify(text)} is not an image reference (${why}); use REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:DIGEST`);
  const [named, digest, ...extra] = text.split('@');
  if (named === undefined || extra.length > 0) throw refuse('more than one @');
  if (digest !== undefined && !DIGEST_PATTERN.test(digest)) throw refuse('the digest must be sha256: and 64 lower-case hex digits');
  // A tag is what follows the last colon when no slash comes after it; an earlier colon is a port.
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/');
  const name = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) throw refuse(`the tag ${JSON.stringify(tag)} must be letters, digits, _ . - (at most 128)`);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) throw refuse(`the name must be 1 to ${MAX_NAME_LENGTH} characters`);
  const components = name.split('/');
  const first = components[0] ?? '';
  const registry = components.length > 1 && isRegistryHost(first) ? first : 'docker.io';
  const path = registry === first && components.length > 1 ? components.slice(1) : components;
  const bad = path.find((component) => !PATH_COMPONENT.test(component));
  if (bad !== undefined) throw refuse(`${JSON.stringify(bad)} is not a repository path component: lower-case letters and digits joined by . _ or -`);
  // Docker Hub's official images live under library/, as `docker pull nginx` reads it.
  const repository = registry === 'docker.io' && path.length === 1 ? `library/${path[0]}` : path.join('/');
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** `registry/repository`, the name a registry path prefix is matched against. */
export function repositoryName(image: ImageReference): string {
  return `${image.registry}/${image.repository}`;
}

/** What hosts run: the repository pinned to `digest`, with no tag that could move. */
export function pinnedReference(image: ImageReference, digest: string): string {
  return `${repositoryName(image)}@${digest}`;
}

/** The tag or digest a registry's manifest API is asked for; Docker's `latest` when the reference names neither. */
export function manifestReference(image: ImageReference): string {
  return image.digest ?? image.tag ?? 'latest';
}
