// The key rotation's order and its stops, against a stand-in keyring: install, use, then
// remove every other key; a member that does not answer stops it before any key is removed.
import { describe, expect, it } from 'vitest';
import { KeyRotationError, rotateGossipKey } from '../../coordinator/key-rotation.js';
import { keyFingerprint, newGossipKey } from '../../shared/contract/gossip-key.js';
import type { Membership, SerfMember } from '../../shared/ports/membership.js';
import type { KeyringAnswer, SerfKeyring } from '../../shared/ports/serf-keyring.js';

const MEMBERS = ['coordinator', 'h1', 'h2', 'h3'];

/** A keyring of four members, where `silent` members take no change and answer nothing. */
class FakeKeyring implements SerfKeyring {
  readonly calls: string[] = [];
  readonly held = new Map<string, Set<string>>();
  silent = new Set<string>();
  constructor(keys: string[]) {
    for (const member of MEMBERS) this.held.set(member, new Set(keys));
  }
  install(key: string) {
    return this.change(`install ${keyFingerprint(key)}`, (keys) => keys.add(key));
  }
  use(key: string) {
    return this.change(`use ${keyFingerprint(key)}`, () => undefined);
  }
  remove(key: string) {
    return this.change(`remove ${keyFingerprint(key)}`, (keys) => keys.delete(key));
  }
  list() {
    return this.change('list', () => undefined);
  }
  private async change(call: string, apply: (keys: Set<string>) => void): Promise<KeyringAnswer> {
    this.calls.push(call);
    const answering = MEMBERS.filter((member) => !this.silent.has(member));
    const keys: Record<string, number> = {};
    for (const member of answering) {
      apply(this.held.get(member)!);
      for (const key of this.held.get(member)!) keys[key] = (keys[key] ?? 0) + 1;
    }
    const missing = MEMBERS.length - answering.length;
    return { members: MEMBERS.length, answered: answering.length, messages: {}, errors: 0, keys, ...(missing > 0 ? { error: `${answering.length}/${MEMBERS.length} nodes reported success` } : {}) };
  }
}

const membership = (failed: string[] = []): Membership => ({
  members: async () => MEMBERS.map((name): SerfMember => ({ name, addr: '10.0.0.1', port: 7946, tags: {}, status: failed.includes(name) ? 'failed' : 'alive' })),
});

describe('gossip key rotation', () => {
  it('installs the new key, makes it the primary, then removes the old one, every member answering each step', async () => {
    const [old, next] = [newGossipKey(), newGossipKey()];
    const keyring = new FakeKeyring([old]);
    const report = await rotateGossipKey({ keyring, membership: membership() }, next);
    expect(keyring.calls).toEqual(['list', `install ${keyFingerprint(next)}`, `use ${keyFingerprint(next)}`, `remove ${keyFingerprint(old)}`, 'list']);
    expect(report.key).toBe(keyFingerprint(next));
    expect(report.removed).toEqual([keyFingerprint(old)]);
    expect(report.steps.every((step) => step.answered === 4 && step.members === 4)).toBe(true);
    for (const keys of keyring.held.values()) expect([...keys]).toEqual([next]);
  });

  it('stops before removing anything when a member does not answer the install, naming what Serf sees of it', async () => {
    const [old, next] = [newGossipKey(), newGossipKey()];
    const keyring = new FakeKeyring([old]);
    // h3 answers the first listing, then goes quiet.
    const quietAfterListing: SerfKeyring = {
      list: () => keyring.list(),
      install: (key) => (keyring.silent.add('h3'), keyring.install(key)),
      use: (key) => keyring.use(key),
      remove: (key) => keyring.remove(key),
    };
    // Serf still lists h3 alive when the rotation starts, and failed by the time the install stops.
    let asked = 0;
    const seen: Membership = { members: async () => (asked++ === 0 ? membership() : membership(['h3'])).members() };
    const failure = await rotateGossipKey({ keyring: quietAfterListing, membership: seen }, next).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KeyRotationError);
    const stopped = failure as KeyRotationError;
    expect(stopped.step).toBe('install');
    expect(stopped.message).toMatch(/rotation stopped at install: 3 of 4 members answered; 1 did not answer \(Serf lists h3 as failed\)/);
    expect(stopped.message).toMatch(/old key is still the primary/);
    expect(stopped.message).toMatch(/run the same rotation again with the same key/);
    expect(keyring.calls.some((call) => call.startsWith('use') || call.startsWith('remove'))).toBe(false);
    expect(stopped.message).not.toContain(next);
    expect(stopped.message).not.toContain(old);
  });

  it('refuses to start when a member does not answer the first listing', async () => {
    const keyring = new FakeKeyring([newGossipKey()]);
    keyring.silent.add('h2');
    const failure = (await rotateGossipKey({ keyring, membership: membership() }, newGossipKey()).catch((error: unknown) => error)) as KeyRotationError;
    expect(failure.step).toBe('check');
    expect(failure.message).toMatch(/nothing was changed/);
    expect(keyring.calls).toEqual(['list']);
  });

  it('refuses to start while Serf lists a member as failed, which would miss the new key', async () => {
    const keyring = new FakeKeyring([newGossipKey()]);
    const failure = (await rotateGossipKey({ keyring, membership: membership(['h2']) }, newGossipKey()).catch((error: unknown) => error)) as KeyRotationError;
    expect(failure.step).toBe('check');
    expect(failure.message).toMatch(/Serf lists h2 as failed; it would miss the new key/);
    expect(failure.message).toMatch(/serf force-leave/);
    expect(keyring.calls).toEqual([]);
  });

  it('stops before removing when a member answers the use with an error, naming it and what it said', async () => {
    const [old, next] = [newGossipKey(), newGossipKey()];
    const keyring = new FakeKeyring([old]);
    const failing: SerfKeyring = {
      list: () => keyring.list(),
      install: (key) => keyring.install(key),
      use: async (key) => ({ ...(await keyring.use(key)), messages: { h1: 'Key not installed' }, errors: 1, error: '1/4 nodes reported failure' }),
      remove: (key) => keyring.remove(key),
    };
    const failure = (await rotateGossipKey({ keyring: failing, membership: membership() }, next).catch((error: unknown) => error)) as KeyRotationError;
    expect(failure.step).toBe('use');
    expect(failure.message).toMatch(/1 answered with an error \(h1: Key not installed\)/);
    expect(failure.report.removed).toEqual([]);
    expect(keyring.calls.some((call) => call.startsWith('remove'))).toBe(false);
  });

  it('finishes a rotation that stopped half-way: run again, it removes every key but the new one', async () => {
    const [older, old, next] = [newGossipKey(), newGossipKey(), newGossipKey()];
    const keyring = new FakeKeyring([older, old, next]);
    const report = await rotateGossipKey({ keyring, membership: membership() }, next);
    expect(report.removed.sort()).toEqual([keyFingerprint(older), keyFingerprint(old)].sort());
    for (const keys of keyring.held.values()) expect([...keys]).toEqual([next]);
  });
});
