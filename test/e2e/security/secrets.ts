// No secret in a process list or the output: every secret of the cluster (tokens, host
// tokens, the Serf RPC token and key, the Redis passwords), read from its state and its
// config files, is looked for in /proc/*/cmdline of every process while a deploy runs, in
// what `dev up` printed, in the CLI's outputs and in the cluster's logs; the secrets live
// in a 0600 file that `dev status` names.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { expect, it } from 'vitest';
import { pause } from '../../../shared/contract/waiting.js';
import { CLI } from '../../../dev-cluster/sample-app.js';
import type { DevClusterState } from '../../../dev-cluster/dev-cluster.js';
import type { TestCluster } from '../../fixtures/cluster.js';

/** A field whose name says it holds a secret: everything under it is one. */
const SECRET_FIELD = /token|rpcauth|secret|password|encryptkey|redisusers|keyring/i;
/** Shorter strings under such a field are names or flags, not secrets. */
const MIN_SECRET_LENGTH = 12;
const SCAN_INTERVAL_MS = 25;
const MAX_SCANS = 20_000;

export function secretChecks(cluster: () => TestCluster): void {
  it('puts no secret on the command line of any process while a deploy runs', async () => {
    const secrets = clusterSecrets(cluster().state());
    const deploying = cluster().cli(['deploy', 'web', '--env', 'production', '--tag', 'v2', '--wait', '--json']);
    let done = false;
    void deploying.finally(() => (done = true));
    const seen = new Set<string>();
    const leaks = new Set<string>();
    let scans = 0;
    while (!done && scans < MAX_SCANS) {
      for (const cmdline of commandLines()) {
        seen.add(cmdline);
        for (const secret of secrets.values) if (cmdline.includes(secret)) leaks.add(`${secrets.names.get(secret)} in: ${cmdline.replaceAll(secret, '<secret>')}`);
      }
      scans++;
      await pause(SCAN_INTERVAL_MS);
    }
    const deploy = await deploying;
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    console.log(`[secrets] ${secrets.values.length} secrets looked for in ${scans} scans of /proc/*/cmdline, ${seen.size} distinct command lines`);
    expect([...leaks]).toEqual([]);
    // The scans saw the processes that once carried secrets on their command lines.
    const all = [...seen].join('\n');
    for (const part of ['redis-server', 'haproxy', 'serf agent', ' coordinator --config', ' agent --config', 'docker compose']) expect(all, part).toContain(part);
  });

  it("keeps every secret out of what `dev up` printed, the CLI's outputs and the cluster's logs", async () => {
    const state = cluster().state();
    const secrets = clusterSecrets(state);
    const outputs: Array<[string, string]> = [['dev up', cluster().upLog.join('\n')]];
    for (const args of [['dev', 'status', '--dir', state.dir], ['--json', 'dev', 'status', '--dir', state.dir], ['members'], ['status'], ['release', 'list', 'web'], ['out-of-service', 'web', '--env', 'production']]) {
      const result = await cluster().cli(args);
      expect(result.exitCode, `grapevine ${args.join(' ')}: ${result.stderr}`).toBe(0);
      outputs.push([`grapevine ${args.join(' ')}`, `${result.stdout}\n${result.stderr}`]);
    }
    for (const log of logFiles(state.dir)) outputs.push([log, readFileSync(log, 'utf8')]);
    const leaks = outputs.flatMap(([where, text]) => secrets.values.filter((secret) => text.includes(secret)).map((secret) => `${secrets.names.get(secret)} in ${where}`));
    expect(leaks).toEqual([]);
  });

  it('keeps the secrets in a 0600 file that `dev status` names and an operator sources to use the CLI', async () => {
    const state = cluster().state();
    const status = await cluster().cli(['dev', 'status', '--dir', state.dir]);
    const file = /source (\S+)/.exec(status.stdout)?.[1];
    expect(file, status.stdout).toBe(join(state.dir, 'secrets.env'));
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    const json = JSON.parse((await cluster().cli(['--json', 'dev', 'status', '--dir', state.dir])).stdout) as { secretsFile: string };
    expect(json.secretsFile).toBe(file);
    const exported = readFileSync(file!, 'utf8');
    for (const name of ['GRAPEVINE_COORDINATOR', 'GRAPEVINE_TOKEN', 'GRAPEVINE_SERF_RPC', 'GRAPEVINE_SERF_RPC_AUTH', 'GRAPEVINE_REDIS_ADMIN_URL', 'REDISCLI_AUTH']) expect(exported).toMatch(new RegExp(`^export ${name}=`, 'm'));
    // An operator's shell with nothing else set: the file alone points the CLI at the cluster.
    const used = await execa('bash', ['-c', 'source "$1" && exec "$2" "$3" members', 'operator', file!, process.execPath, CLI], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    });
    expect(used.exitCode, used.stderr).toBe(0);
    expect(used.stdout).toContain('h1');
  });
}

/** Every secret of the cluster with a name for each: the state's and those in the coordinator's and agents' config files. */
function clusterSecrets(state: DevClusterState): { values: string[]; names: Map<string, string> } {
  const names = new Map<string, string>();
  const add = (value: string, name: string) => {
    if (value.length >= MIN_SECRET_LENGTH && !names.has(value)) names.set(value, name);
  };
  const walk = (value: unknown, path: string, secret: boolean): void => {
    if (typeof value === 'string') {
      if (/^rediss?:\/\//.test(value) && new URL(value).password !== '') add(new URL(value).password, `${path} (Redis password)`);
      else if (secret) add(value, path);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`, secret || SECRET_FIELD.test(key));
    }
  };
  walk(state, 'state', false);
  walk(parseYaml(readFileSync(join(state.dir, 'coordinator.yml'), 'utf8')), 'coordinator.yml', false);
  for (const host of state.hosts) walk(parseYaml(readFileSync(host.agentConfig, 'utf8')), `${host.name}'s agent.yml`, false);
  expect(names.size).toBeGreaterThanOrEqual(6);
  return { values: [...names.keys()], names };
}

/** The command line of every process on the machine now, its arguments joined by spaces. */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline !== '') lines.push(cmdline.split('\0').join(' ').trim());
    } catch {
      // Ended between the listing and the read.
    }
  }
  return lines;
}

/** Every *.log under the cluster's folder. */
function logFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.log'))
    .map((name) => join(dir, name));
}
