// Image references as Docker reads them, and which registries a coordinator allows.
import { describe, expect, it } from 'vitest';
import { AllowedRegistries, allowedRegistryOf, registryProblems } from '../../shared/contract/allowed-registries.js';
import { parseImageReference, pinnedReference } from '../../shared/contract/image-reference.js';
import { loadCoordinatorConfig } from '../../shared/contract/config.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it.each([
    ['127.0.0.1:5000/web:v2', { registry: '127.0.0.1:5000', repository: 'web', tag: 'v2' }],
    ['registry.example.com/team/web:1.2.3', { registry: 'registry.example.com', repository: 'team/web', tag: '1.2.3' }],
    [`localhost:5000/web@${DIGEST}`, { registry: 'localhost:5000', repository: 'web', digest: DIGEST }],
    [`reg.example.com/web:v2@${DIGEST}`, { registry: 'reg.example.com', repository: 'web', tag: 'v2', digest: DIGEST }],
    ['nginx', { registry: 'docker.io', repository: 'library/nginx' }],
    ['team/web:v1', { registry: 'docker.io', repository: 'team/web', tag: 'v1' }],
  ])('reads %s', (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
  });

  it.each([
    ['127.0.0.1:5000/Web:v1', /"Web" is not a repository path component/],
    ['127.0.0.1:5000/web:v1@sha256:abc', /digest must be sha256: and 64/],
    [`127.0.0.1:5000/web@sha512:${'a'.repeat(128)}`, /digest must be sha256/],
    ['127.0.0.1:5000/web:-v1', /tag "-v1"/],
    ['127.0.0.1:5000//web', /"" is not a repository path component/],
    ['a@b@c', /more than one @/],
  ])('refuses %s, naming it and what is wrong', (text, why) => {
    const refused = () => parseImageReference(text);
    expect(refused).toThrow(why);
    expect(refused).toThrow(`image ${JSON.stringify(text)} is not an image reference`);
  });

  it('pins a reference to a digest, dropping the tag', () => {
    expect(pinnedReference(parseImageReference('127.0.0.1:5000/team/web:v2'), DIGEST)).toBe(`127.0.0.1:5000/team/web@${DIGEST}`);
  });
});

describe('allowed registries', () => {
  const allowed = AllowedRegistries.parse(['registry.example.com/team', { address: '127.0.0.1:5000', plainHttp: true }]);

  it('reads an address as https and an object as marked', () => {
    expect(allowed).toEqual([
      { address: 'registry.example.com/team', plainHttp: false },
      { address: '127.0.0.1:5000', plainHttp: true },
    ]);
  });

  it('allows a registry host, or a path prefix by whole components only', () => {
    const of = (image: string) => allowedRegistryOf(parseImageReference(image), allowed)?.address;
    expect(of('127.0.0.1:5000/web:v1')).toBe('127.0.0.1:5000');
    expect(of('127.0.0.1:5000/any/path/web:v1')).toBe('127.0.0.1:5000');
    expect(of('registry.example.com/team/web:v1')).toBe('registry.example.com/team');
    expect(of('registry.example.com/team2/web:v1')).toBeUndefined();
    expect(of('registry.example.com/web:v1')).toBeUndefined();
    expect(of('127.0.0.1:50001/web:v1')).toBeUndefined();
    expect(of('127.0.0.1/web:v1')).toBeUndefined();
    expect(of('web:v1')).toBeUndefined();
    expect(of('evil.example.com/registry.example.com/team/web:v1')).toBeUndefined();
  });

  it('refuses an entry that does not start with a registry host', () => {
    const parsed = AllowedRegistries.safeParse(['team/web']);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('must start with a registry host');
    expect(AllowedRegistries.safeParse([]).success).toBe(false);
  });

  it('wants the default registry among the allowed ones, and allows it alone when none are listed', () => {
    expect(registryProblems({ registry: '127.0.0.1:5000', registries: allowed })).toEqual([]);
    expect(registryProblems({ registry: 'registry.example.com/team', registries: allowed })).toEqual([]);
    expect(registryProblems({ registry: 'registry.example.com' })).toEqual([]);
    expect(registryProblems({ registry: 'other.example.com:5000', registries: allowed })).toEqual([
      'registry other.example.com:5000 (the default for a publish that names no image) must be one of registries (registry.example.com/team, 127.0.0.1:5000) or under one of them',
    ]);
    expect(registryProblems({ registry: 'team' })[0]).toMatch(/must start with a registry host/);
  });
});

describe('the coordinator config', () => {
  const EXAMPLE = join(import.meta.dirname, '..', '..', 'provisioning', 'coordinator.example.yml');
  const env = { GRAPEVINE_SERF_ENCRYPT_KEY: `${'k'.repeat(43)}=` };

  it('reads the example: its registries, the default among them', () => {
    expect(loadCoordinatorConfig(EXAMPLE, env).registries).toEqual([
      { address: '192.0.2.5:5000', plainHttp: true },
      { address: 'registry.example.com/team', plainHttp: false },
    ]);
  });

  it('refuses a default registry the list leaves out, naming both', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gvdigest-config-')), 'coordinator.yml');
    writeFileSync(file, readFileSync(EXAMPLE, 'utf8').replace('registry: 192.0.2.5:5000', 'registry: other.example.com'));
    expect(() => loadCoordinatorConfig(file, env)).toThrow(
      'registry other.example.com (the default for a publish that names no image) must be one of registries (192.0.2.5:5000, registry.example.com/team)',
    );
  });
});
