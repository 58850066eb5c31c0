// The agent's on-disk record of the highest deploy applied per group, in a temp directory.
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentStateError, FileAppliedDeploys } from '../../agent/deploy/applied-deploys.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'gv-applied-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const web = { role: 'web', env: 'production' };

describe('applied deploys on disk', () => {
  it('knows nothing before the first record, then keeps the highest seq per group across instances', async () => {
    const dir = join(root, 'agent');
    const store = new FileAppliedDeploys(dir);
    expect(await store.highest(web)).toBeUndefined();
    await store.record(web, 5);
    await store.record(web, 3);
    await store.record({ role: 'web', env: 'staging' }, 9);
    // A restarted agent reads what the last one wrote.
    const again = new FileAppliedDeploys(dir);
    expect(await again.highest(web)).toBe(5);
    expect(await again.highest({ role: 'web', env: 'staging' })).toBe(9);
    expect(JSON.parse(await readFile(join(dir, 'applied-deploys.json'), 'utf8'))).toEqual({ v: 1, applied: { 'web/production': 5, 'web/staging': 9 } });
  });

  it('creates its folder 0700, leaves no temporary file, and keeps the highest of concurrent records', async () => {
    const dir = join(root, 'nested', 'agent');
    const store = new FileAppliedDeploys(dir);
    await Promise.all([4, 9, 2, 7].map((seq) => store.record(web, seq)));
    expect(await store.highest(web)).toBe(9);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await readdir(dir)).toEqual(['applied-deploys.json']);
  });

  it('names the file when it is not a record', async () => {
    await writeFile(join(root, 'applied-deploys.json'), 'not json');
    const failure = await new FileAppliedDeploys(root).highest(web).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AgentStateError);
    expect((failure as Error).message).toContain(join(root, 'applied-deploys.json'));
  });
});
