// Serf gossip as an operator checks it on a running cluster: a Serf agent started on a host's
// network without the cluster's key (or with a wrong one) cannot join, while one with the key
// can; `grapevine keys rotate` keeps every host a member, the old key no longer gets in, and
// a deploy still reaches every host. Runs last: it changes the cluster's key.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { expect, it } from 'vitest';
import { gatewayOf } from '../../../dev-cluster/cluster-state.js';
import type { DevHostState } from '../../../dev-cluster/dev-cluster.js';
import { keyFingerprint, newGossipKey } from '../../../shared/contract/gossip-key.js';
import { SerfKeyList, SerfKeyRotation } from '../../../shared/contract/serf-key-schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

/** The probe's own ports inside the host's namespace, beside the host's Serf (7946, RPC 7373). */
const PROBE_GOSSIP_PORT = 7947;
const PROBE_RPC = '127.0.0.1:17373';
const SERF_TIMEOUT_MS = 15_000;

/**
 * A Serf agent of the test's own, run inside `host`'s network namespace with `key` (none:
 * unencrypted); its RPC token only in its 0600 config file and in SERF_RPC_AUTH. Stopped by its id.
 */
async function startProbe(host: DevHostState, name: string, key: string | undefined): Promise<AsyncDisposable & { join(target: string): Promise<{ exitCode: number; output: string }> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gvsec-serf-probe-'));
  const rpcAuth = randomBytes(12).toString('hex');
  const config = join(dir, 'serf.json');
  writeFileSync(config, JSON.stringify({ node_name: name, bind: `${host.address}:${PROBE_GOSSIP_PORT}`, rpc_addr: PROBE_RPC, rpc_auth: rpcAuth, log_level: 'warn', ...(key ? { encrypt_key: key } : {}) }), { mode: 0o600 });
  const inHost = (args: string[]) => ['--net=' + host.netns, '--', 'serf', ...args];
  const agent: ResultPromise = execa('nsenter', inHost(['agent', `-config-file=${config}`]), { reject: false, stdin: 'ignore', all: true });
  const env = { SERF_RPC_AUTH: rpcAuth };
  const stop = async () => {
    if (agent.pid !== undefined && agent.exitCode === null) {
      // A graceful leave, so the cluster lists the probe as left, not failed; then by its id, for sure.
      process.kill(agent.pid, 'SIGINT');
      await until(`the ${name} probe to exit`, () => (agent.exitCode === null ? undefined : true), { timeoutMs: SERF_TIMEOUT_MS }).catch(() => agent.kill('SIGKILL'));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(`the ${name} probe's RPC`, async () => ((await execa('nsenter', inHost(['members', `-rpc-addr=${PROBE_RPC}`]), { env, reject: false, timeout: 5_000 })).exitCode === 0 ? true : undefined), { timeoutMs: SERF_TIMEOUT_MS, intervalMs: 200 });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    async join(target) {
      const result = await execa('nsenter', inHost(['join', `-rpc-addr=${PROBE_RPC}`, target]), { env, reject: false, all: true, timeout: SERF_TIMEOUT_MS });
      return { exitCode: result.exitCode ?? -1, output: String(result.all) };
    },
    [Symbol.asyncDispose]: stop,
  };
}

export function serfChecks(cluster: () => TestCluster): void {
  const coordinatorGossip = () => `${gatewayOf(cluster().state().subnet)}:7946`;
  const aliveHosts = async () => (await cluster().cluster.serf().members({ status: 'alive', tags: { roles: '.+' } })).map((m) => m.name).sort();
  const keyList = async () => {
    const listed = await cluster().cli(['keys', 'list', '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    return SerfKeyList.parse(JSON.parse(listed.stdout));
  };

  it('keeps out a Serf agent without the cluster key or with a wrong one; one with the key joins', async () => {
    const { hosts, serfEncryptKey } = cluster().state();
    const h1 = hosts[0]!;
    for (const [name, key] of [['gvsec-nokey', undefined], ['gvsec-wrongkey', newGossipKey()]] as const) {
      await using probe = await startProbe(h1, name, key);
      const joined = await probe.join(coordinatorGossip());
      expect(joined.exitCode, joined.output).not.toBe(0);
      expect(joined.output).toMatch(key === undefined ? /encrypt/i : /decrypt|key/i);
      expect((await cluster().cluster.serf().members()).map((m) => m.name)).not.toContain(name);
    }
    await using keyed = await startProbe(h1, 'gvsec-withkey', serfEncryptKey);
    const joined = await keyed.join(coordinatorGossip());
    expect(joined.exitCode, joined.output).toBe(0);
    await until('the keyed probe alive at the coordinator', async () => ((await cluster().cluster.serf().members({ status: 'alive' })).some((m) => m.name === 'gvsec-withkey') ? true : undefined), { timeoutMs: SERF_TIMEOUT_MS });
  });

  it('grapevine keys rotate keeps every host a member, locks the old key out, and a deploy still reaches every host', async () => {
    const { hosts, serfEncryptKey: oldKey, dir } = cluster().state();
    const production = cluster().hostsOf('production');
    // A graceful leave of the keyed probe above takes a moment to reach the coordinator.
    await until('only the coordinator and the hosts as live members', async () => {
      const listed = await keyList();
      return listed.complete && listed.members === hosts.length + 1 ? listed : undefined;
    }, { timeoutMs: SERF_TIMEOUT_MS, intervalMs: 500 });
    expect((await keyList()).keys).toEqual([{ fingerprint: keyFingerprint(oldKey), members: hosts.length + 1 }]);

    const outDir = mkdtempSync(join(tmpdir(), 'gvsec-serf-key-'));
    try {
      const keyFile = join(outDir, 'serf.key');
      const rotated = await cluster().cli(['keys', 'rotate', '--out', keyFile, '--json']);
      expect(rotated.exitCode, rotated.stderr).toBe(0);
      const newKey = readFileSync(keyFile, 'utf8').trim();
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      // Never printed: only fingerprints.
      expect(`${rotated.stdout}${rotated.stderr}`).not.toContain(newKey);
      expect(`${rotated.stdout}${rotated.stderr}`).not.toContain(oldKey);
      const rotation = SerfKeyRotation.parse(JSON.parse(rotated.stdout));
      expect(rotation.key).toBe(keyFingerprint(newKey));
      expect(rotation.removed).toEqual([keyFingerprint(oldKey)]);
      expect(rotation.steps.every((step) => step.answered === hosts.length + 1)).toBe(true);

      expect((await keyList()).keys).toEqual([{ fingerprint: keyFingerprint(newKey), members: hosts.length + 1 }]);
      expect(await aliveHosts()).toEqual(hosts.map((h) => h.name).sort());
      // Each host keeps the new key in its keyring file, which its next start uses.
      for (const host of hosts) expect(JSON.parse(readFileSync(join(host.dir, 'serf', 'keyring.json'), 'utf8'))).toEqual([newKey]);
      expect(JSON.parse(readFileSync(join(dir, 'coordinator-serf', 'keyring.json'), 'utf8'))).toEqual([newKey]);

      {
        await using stale = await startProbe(hosts[0]!, 'gvsec-oldkey', oldKey);
        const joined = await stale.join(coordinatorGossip());
        expect(joined.exitCode, joined.output).not.toBe(0);
      }

      const current = (await cluster().cluster.client().listDeploys({ role: 'web', env: 'production', limit: 1 }))[0]?.tag;
      const tag = current === 'v1' ? 'v2' : 'v1';
      const { deploy, exitCode, stderr } = await cluster().deploy('web', 'production', tag);
      expect(exitCode, stderr).toBe(0);
      expect(deploy.status).toBe('succeeded');
      expect(Object.keys(deploy.hosts).sort()).toEqual([...production].sort());
      expect(Object.values(deploy.hosts).every((host) => host.state === 'succeeded')).toBe(true);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
}
