// The sample app's images in a new cluster's registry without pushing them again. A push into
// an empty registry compresses the base image's layer (about 170 MB) anew: some 10 s of one
// core, more on a busy machine, paid by every cluster the tests, the demo and the benchmark
// bring up. The first cluster that pushes them keeps a copy of its registry's storage here,
// keyed by the images' tags and ids; a later cluster whose images have the same ids starts its
// registry on a copy of it, then pulls the tags, which finds every layer on this engine and
// records them as present in that registry, so the tests' own pushes there skip them as before.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { errorMessage } from '../shared/contract/errors.js';
import { BUILD_SCRIPT, SAMPLE_TAGS } from './sample-app.js';

/** One machine's seeds: a cache, removable at any time (the next cluster pushes and keeps a seed again). */
export const REGISTRY_SEED_DIR = '/var/cache/grapevine/sample-registry';
const DOCKER_TIMEOUT_MS = 120_000;
/** A copy left by a process that died while it wrote one is removed after this long. */
const ABANDONED_COPY_MS = 10 * 60_000;
const COPY_MARK = '.copy-';

export interface RegistrySeed {
  /** The images' ids, hashed: a seed serves only the very images it was pushed from. */
  key: string;
  /** Whether the registry's storage was filled from a seed (else the images must be pushed). */
  restored: boolean;
}

/** The key of the sample app's images as the engine has them now under `repository` (REGISTRY/web). */
export async function sampleImagesKey(repository: string): Promise<string> {
  const images = SAMPLE_TAGS.map((tag) => `${repository}:${tag}`);
  const { stdout } = await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', ...images], { stdin: 'ignore', timeout: DOCKER_TIMEOUT_MS });
  const ids = stdout.trim().split('\n');
  return imagesKey(SAMPLE_TAGS.map((tag, index) => ({ tag, id: ids[index] ?? '' })));
}

/**
 * Each tag with its image id, hashed: a seed kept before a tag was added (or rebuilt) has
 * another key, so a cluster never starts on a registry that lacks one of its tags.
 */
export function imagesKey(images: ReadonlyArray<{ tag: string; id: string }>): string {
  const lines = images.map(({ tag, id }) => `${tag} ${id}`).join('\n');
  return createHash('sha256').update(lines).digest('hex').slice(0, 32);
}

/**
 * Fills `storage` (the registry's root directory, before the registry starts) from the seed
 * of `key` when there is one. A copy that fails leaves the storage empty: the caller pushes.
 */
export function restoreRegistrySeed(key: string, storage: string, seeds = REGISTRY_SEED_DIR): boolean {
  const seed = join(seeds, key);
  if (!existsSync(seed)) return false;
  try {
    cpSync(seed, storage, { recursive: true });
    return true;
  } catch {
    rmSync(storage, { recursive: true, force: true });
    return false;
  }
}

/**
 * Keeps a copy of `storage` (the registry's root directory, its pushes done) as the seed of
 * `key`, and drops the seeds of other keys (images since rebuilt). Written aside and renamed
 * into place, so a cluster starting meanwhile sees a whole seed or none; when two clusters
 * keep one at once, the first rename wins. Returns why it kept none, or undefined.
 */
export function saveRegistrySeed(key: string, storage: string, seeds = REGISTRY_SEED_DIR): string | undefined {
  const seed = join(seeds, key);
  if (existsSync(seed)) return undefined;
  const copy = join(seeds, `${key}${COPY_MARK}${process.pid}`);
  try {
    mkdirSync(seeds, { recursive: true, mode: 0o700 });
    cpSync(storage, copy, { recursive: true });
    renameSync(copy, seed);
  } catch (error) {
    rmSync(copy, { recursive: true, force: true });
    if (existsSync(seed)) return undefined;
    return errorMessage(error);
  }
  for (const entry of readdirSync(seeds)) {
    if (entry === key) continue;
    const path = join(seeds, entry);
    // Another cluster's copy in progress stays, unless it was abandoned long ago.
    if (entry.includes(COPY_MARK) && Date.now() - statSync(path).mtimeMs < ABANDONED_COPY_MS) continue;
    rmSync(path, { recursive: true, force: true });
  }
  return undefined;
}

/** Removes the seed of `key`: one that a cluster's registry could not serve the images from. */
export function dropRegistrySeed(key: string, seeds = REGISTRY_SEED_DIR): void {
  rmSync(join(seeds, key), { recursive: true, force: true });
}

/** Before the registry starts: its storage filled from the seed of the images built under `repository`, if there is one. */
export async function seedRegistry(repository: string, storage: string): Promise<RegistrySeed> {
  const key = await sampleImagesKey(repository);
  return { key, restored: restoreRegistrySeed(key, storage) };
}

/**
 * With the registry up. Restored from a seed: pulls every tag, which finds every layer on this
 * engine (nothing is downloaded) and records them as being in this registry, so that a later
 * push of an image built on them (the tests push some) skips them instead of compressing them
 * again. Else, or when that pull fails: pushes the images and keeps the storage as the seed.
 */
export async function fillRegistry(repository: string, seed: RegistrySeed, storage: string, log: (line: string) => void): Promise<void> {
  if (seed.restored) {
    try {
      await execa('docker', ['pull', '--quiet', '--all-tags', repository], { stdin: 'ignore', timeout: DOCKER_TIMEOUT_MS });
      return;
    } catch (error) {
      log(`the registry seed did not serve the images (${errorMessage(error)}): dropped, pushing them`);
      dropRegistrySeed(seed.key);
    }
  }
  await execa('bash', [BUILD_SCRIPT, repository, '--push'], { stdio: 'inherit' });
  const notKept = saveRegistrySeed(seed.key, storage);
  if (notKept !== undefined) log(`no registry seed kept in ${REGISTRY_SEED_DIR} (${notKept}): the next cluster pushes its images again`);
}
