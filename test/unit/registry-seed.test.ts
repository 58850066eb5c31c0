// The registry seed's bookkeeping on a temporary folder: a new cluster's registry storage is
// filled only from a seed of the same images, a seed is kept whole or not at all, and keeping
// one for rebuilt images drops the seeds of the old ones but not another cluster's copy in progress.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { imagesKey, restoreRegistrySeed, saveRegistrySeed } from '../../dev-cluster/registry-seed.js';
import { BUILD_SCRIPT, SAMPLE_TAGS } from '../../dev-cluster/sample-app.js';

describe('registry seed', () => {
  let dir: string;
  let seeds: string;
  /** A registry's storage with one blob, as a push leaves it. */
  const pushedStorage = (name: string, content: string) => {
    const storage = join(dir, name);
    mkdirSync(join(storage, 'docker', 'registry', 'v2', 'blobs'), { recursive: true });
    writeFileSync(join(storage, 'docker', 'registry', 'v2', 'blobs', 'data'), content);
    return storage;
  };
  const blobOf = (storage: string) => readFileSync(join(storage, 'docker', 'registry', 'v2', 'blobs', 'data'), 'utf8');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gv-registry-seed-'));
    seeds = join(dir, 'seeds');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fills a new storage only from the seed of the same images', () => {
    expect(restoreRegistrySeed('images-a', join(dir, 'first'), seeds)).toBe(false);
    expect(existsSync(join(dir, 'first'))).toBe(false);
    expect(saveRegistrySeed('images-a', pushedStorage('pushed', 'layers of a'), seeds)).toBeUndefined();

    expect(restoreRegistrySeed('images-a', join(dir, 'second'), seeds)).toBe(true);
    expect(blobOf(join(dir, 'second'))).toBe('layers of a');
    expect(restoreRegistrySeed('images-b', join(dir, 'third'), seeds)).toBe(false);
    expect(existsSync(join(dir, 'third'))).toBe(false);
  });

  it('keeps the first seed of a key; a second cluster pushing the same images changes nothing', () => {
    saveRegistrySeed('images-a', pushedStorage('one', 'first push'), seeds);
    expect(saveRegistrySeed('images-a', pushedStorage('two', 'second push'), seeds)).toBeUndefined();
    expect(blobOf(join(seeds, 'images-a'))).toBe('first push');
    expect(readdirSync(seeds)).toEqual(['images-a']);
  });

  it("drops the seeds of rebuilt images and abandoned copies, not another cluster's copy in progress", () => {
    saveRegistrySeed('images-a', pushedStorage('old', 'old layers'), seeds);
    const inProgress = join(seeds, 'images-c.copy-4242');
    const abandoned = join(seeds, 'images-d.copy-4343');
    mkdirSync(inProgress);
    mkdirSync(abandoned);
    const hourAgo = new Date(Date.now() - 60 * 60_000);
    utimesSync(abandoned, hourAgo, hourAgo);

    expect(saveRegistrySeed('images-b', pushedStorage('new', 'new layers'), seeds)).toBeUndefined();
    expect(readdirSync(seeds).sort()).toEqual(['images-b', 'images-c.copy-4242']);
  });

  it('says why it kept no seed, and leaves no half copy behind', () => {
    const why = saveRegistrySeed('images-a', join(dir, 'never-pushed'), seeds);
    expect(why).toMatch(/never-pushed/);
    expect(readdirSync(seeds)).toEqual([]);
  });

  it('keys a seed by every tag and its image: a seed from before a tag was added is not reused', () => {
    const before = [
      { tag: 'v1', id: 'sha256:1' },
      { tag: 'v2', id: 'sha256:2' },
      { tag: 'bad', id: 'sha256:3' },
    ];
    const withNewTag = [...before, { tag: 'v3-slow', id: 'sha256:1' }];
    expect(imagesKey(withNewTag)).not.toBe(imagesKey(before));
    expect(imagesKey(before)).toBe(imagesKey(before.map((image) => ({ ...image }))));
    expect(imagesKey([{ tag: 'v1', id: 'sha256:2' }, { tag: 'v2', id: 'sha256:1' }])).not.toBe(imagesKey([{ tag: 'v1', id: 'sha256:1' }, { tag: 'v2', id: 'sha256:2' }]));
  });

  it('builds and pushes the very tags the dev cluster publishes', () => {
    const tagsLine = /^readonly TAGS=\(([^)]*)\)$/m.exec(readFileSync(BUILD_SCRIPT, 'utf8'));
    expect(tagsLine?.[1]?.split(' ')).toEqual([...SAMPLE_TAGS]);
  });
});
