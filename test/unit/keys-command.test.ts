// `grapevine keys rotate` on its own side: where the new key comes from, which files it
// refuses, and that the key it sends is never in what it prints. The coordinator is a stand-in.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerKeysCommand } from '../../cli/keys-command.js';
import { keyFingerprint, newGossipKey } from '../../shared/contract/gossip-key.js';
import type { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';

describe('grapevine keys rotate', () => {
  let dir: string;
  let sent: string[];
  let printed: string[];

  const run = async (...args: string[]) => {
    const program = new Command('grapevine').exitOverride();
    const client = {
      rotateSerfKey: async (key: string) => {
        sent.push(key);
        return { key: keyFingerprint(key), steps: [{ step: 'install', key: keyFingerprint(key), members: 4, answered: 4 }], removed: ['sha256:0123456789ab'] };
      },
    } as unknown as CoordinatorClient;
    registerKeysCommand(program, { client: () => client, print: (_value, text) => printed.push(text) });
    await program.parseAsync(['keys', 'rotate', ...args], { from: 'user' });
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gvtest-keys-'));
    sent = [];
    printed = [];
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('needs exactly one of --key-file and --out', async () => {
    await expect(run()).rejects.toThrow(/needs one of --key-file FILE .* or --out FILE/);
    await expect(run('--key-file', join(dir, 'a'), '--out', join(dir, 'b'))).rejects.toThrow(/needs one of/);
    expect(sent).toEqual([]);
  });

  it('sends the key of a 0600 key file, printing only its fingerprint', async () => {
    const key = newGossipKey();
    const file = join(dir, 'serf.key');
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    await run('--key-file', file);
    expect(sent).toEqual([key]);
    expect(printed.join('\n')).toContain(keyFingerprint(key));
    expect(printed.join('\n')).not.toContain(key);
  });

  it('refuses a key file others may read, or one that holds no key, without sending anything', async () => {
    const open = join(dir, 'open.key');
    await writeFile(open, newGossipKey(), { mode: 0o644 });
    await expect(run('--key-file', open)).rejects.toThrow(/may be read or changed by other users: chmod 600/);
    const junk = join(dir, 'junk.key');
    await writeFile(junk, 'hello', { mode: 0o600 });
    await expect(run('--key-file', junk)).rejects.toThrow(/must hold one key made by `serf keygen`/);
    expect(sent).toEqual([]);
  });

  it('with --out, writes a new key to a new 0600 file before sending it, and never overwrites a file', async () => {
    const out = join(dir, 'new.key');
    await run('--out', out);
    const written = (await readFile(out, 'utf8')).trim();
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(sent).toEqual([written]);
    expect(printed.join('\n')).not.toContain(written);

    await expect(run('--out', out)).rejects.toThrow(/--out .* cannot be written \(it must not exist yet\)/);
    expect((await readFile(out, 'utf8')).trim()).toBe(written);
    expect(sent).toHaveLength(1);
  });
});
