// The systemd units in provisioning/systemd/, checked by `systemd-analyze verify` and
// `systemd-analyze security --offline` as a machine set up by provisioning/install.sh would
// load them, and read for the hardening an operator relies on.
//
// verify needs no systemd running as PID 1, but it loads every unit a unit depends on and
// checks that ExecStart's program is executable. On a CI machine neither has to be true of
// the machine itself, so it works in an alternate root (--root) holding this machine's own
// unit directory (sysinit.target, network-online.target, docker.service, ...), the units
// under test in /etc/systemd/system, and /usr/local/bin/grapevine, where install.sh links
// the CLI. verify exits 0 on unknown keys and bad values, only printing them: any output fails.
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../setup/infra-contract.js';

const UNITS_DIR = join(PROJECT_ROOT, 'provisioning', 'systemd');
const SYSTEM_UNITS = '/usr/lib/systemd/system';
const CLI_LINK = '/usr/local/bin/grapevine';
/** systemd-analyze security's scale, 0 (safe) to 10 (unsafe), times ten: the unprivileged services stay "OK" (at most 2.0). */
const UNPRIVILEGED_EXPOSURE_LIMIT = 20;

let root: string;
let unitNames: string[];

/** A unit file's [Service] settings: each key with every value it is given, in order. */
async function serviceSettings(name: string): Promise<Map<string, string[]>> {
  const text = await readFile(join(UNITS_DIR, name), 'utf8');
  const settings = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    if (header) section = header[1]!;
    const setting = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (section === 'Service' && setting) settings.set(setting[1]!, [...(settings.get(setting[1]!) ?? []), setting[2]!]);
  }
  return settings;
}

const one = (settings: Map<string, string[]>, key: string) => settings.get(key)?.at(-1);
const words = (settings: Map<string, string[]>, key: string) => (settings.get(key) ?? []).flatMap((value) => value.split(/\s+/).filter(Boolean));

async function systemdAnalyze(args: string[]) {
  return execa('systemd-analyze', args, { reject: false, all: true, timeout: 30_000 });
}

beforeAll(async () => {
  const version = await systemdAnalyze(['--version']);
  if (version.exitCode !== 0) throw new Error(`systemd-analyze does not run (${String(version.all)}): install the systemd package`);
  unitNames = (await readdir(UNITS_DIR)).filter((name) => name.endsWith('.service')).sort();
  root = await mkdtemp(join(tmpdir(), 'gvtest-systemd-'));
  await cp(SYSTEM_UNITS, join(root, SYSTEM_UNITS), { recursive: true, verbatimSymlinks: true });
  await mkdir(join(root, '/etc/systemd/system'), { recursive: true });
  for (const name of unitNames) await cp(join(UNITS_DIR, name), join(root, '/etc/systemd/system', name));
  await mkdir(join(root, '/usr/local/bin'), { recursive: true });
  await writeFile(join(root, CLI_LINK), '#!/bin/sh\n');
  await chmod(join(root, CLI_LINK), 0o755);
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('systemd units', () => {
  it('ships the coordinator, agent and load-balancer relay units', () => {
    expect(unitNames).toEqual(['grapevine-agent.service', 'grapevine-coordinator.service', 'grapevine-lb-relay.service']);
  });

  it('passes systemd-analyze verify with nothing to say about any unit', async () => {
    for (const name of unitNames) {
      const verified = await systemdAnalyze(['verify', '--man=no', '--generators=no', `--root=${root}`, name]);
      expect({ name, exitCode: verified.exitCode, output: String(verified.all).trim() }).toEqual({ name, exitCode: 0, output: '' });
    }
  });

  it('starts every service from the CLI that install.sh links', async () => {
    const install = await readFile(join(PROJECT_ROOT, 'provisioning', 'install.sh'), 'utf8');
    expect(install).toContain(`readonly CLI_LINK=${CLI_LINK}`);
    for (const name of unitNames) expect(one(await serviceSettings(name), 'ExecStart')?.split(' ')[0], name).toBe(CLI_LINK);
  });

  it('runs the coordinator as its own user with no capability, writing only its Serf data dir', async () => {
    const unit = await serviceSettings('grapevine-coordinator.service');
    expect(one(unit, 'User')).toBe('grapevine');
    expect(await readFile(join(PROJECT_ROOT, 'provisioning', 'install.sh'), 'utf8')).toMatch(/SERVICE_USERS=\([^)]*\bgrapevine\b/);
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes', CapabilityBoundingSet: '', AmbientCapabilities: '' })) {
      expect(one(unit, key), key).toBe(value);
    }
    for (const key of ['ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'RestrictNamespaces', 'RestrictRealtime', 'RestrictSUIDSGID', 'LockPersonality']) {
      expect(one(unit, key), key).toBe('yes');
    }
    const example = parse(await readFile(join(PROJECT_ROOT, 'provisioning', 'coordinator.example.yml'), 'utf8')) as { serf: { dataDir: string } };
    expect(words(unit, 'ReadWritePaths').some((path) => example.serf.dataDir.startsWith(`${path}/`))).toBe(true);
    expect(words(unit, 'StateDirectory').map((dir) => `/var/lib/${dir}`)).toContain(example.serf.dataDir);
  });

  it('runs the relay as its own user with no capability and a read-only file system', async () => {
    const unit = await serviceSettings('grapevine-lb-relay.service');
    expect(one(unit, 'User')).toBe('grapevine-relay');
    expect(await readFile(join(PROJECT_ROOT, 'provisioning', 'install.sh'), 'utf8')).toMatch(/SERVICE_USERS=\([^)]*\bgrapevine-relay\b/);
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', CapabilityBoundingSet: '' })) {
      expect(one(unit, key), key).toBe(value);
    }
  });

  it('keeps the agent root, for Docker, but sandboxed to the paths it writes', async () => {
    const unit = await serviceSettings('grapevine-agent.service');
    expect(unit.has('User')).toBe(false);
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes' })) {
      expect(one(unit, key), key).toBe(value);
    }
    const example = parse(await readFile(join(PROJECT_ROOT, 'provisioning', 'agent.example.yml'), 'utf8')) as { serf: { dataDir: string } };
    const writable = words(unit, 'ReadWritePaths');
    for (const path of [example.serf.dataDir]) expect(writable.some((dir) => path.startsWith(`${dir}/`)), path).toBe(true);
  });

  it('scores the unprivileged services "OK" in systemd-analyze security, and the agent well below "UNSAFE"', async () => {
    const exposure: Record<string, string> = {};
    for (const name of unitNames) {
      const limit = name === 'grapevine-agent.service' ? 70 : UNPRIVILEGED_EXPOSURE_LIMIT;
      const scored = await systemdAnalyze(['security', '--offline=yes', `--root=${root}`, `--threshold=${limit}`, '--no-pager', name]);
      exposure[name] = /Overall exposure level for \S+: (.+)$/m.exec(String(scored.all))?.[1] ?? String(scored.all).slice(-200);
      expect({ name, exitCode: scored.exitCode, exposure: exposure[name] }).toMatchObject({ name, exitCode: 0 });
    }
    console.info(`systemd-analyze security, exposure (0 safe, 10 unsafe):\n${Object.entries(exposure).map(([name, level]) => `  ${name}: ${level}`).join('\n')}`);
  });
});
