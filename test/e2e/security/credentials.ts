// Scoped credentials on a live cluster, as an operator checks them: every agent reports with
// its own host credential (the deploy succeeds through them), and a host's token, taken from
// the cluster's state, cannot publish, deploy, report as another host or for a deploy that
// does not target it; `grapevine status` shows nothing changed. Tokens are made, listed and
// revoked with the CLI, the token only ever in the environment.
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ForbiddenError } from '../../../shared/contract/errors.js';
import type { Deploy, HostReport } from '../../../shared/contract/schemas.js';
import { CoordinatorClient } from '../../../shared/coordinator-http/coordinator-client.js';
import { CLI } from '../../../dev-cluster/sample-app.js';
import type { TestCluster } from '../../fixtures/cluster.js';

const BOOTSTRAP = 'operator bootstrap (config)';

export function credentialChecks(cluster: () => TestCluster): void {
  /** The CLI with another token in its environment than the cluster's operator one. */
  const cliAs = async (token: string, args: string[]) => {
    const result = await execa(process.execPath, [CLI, ...args], { env: { ...cluster().cluster.cliEnv(), GRAPEVINE_TOKEN: token }, reject: false, timeout: 120_000 });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  const hostToken = (host: string): string => {
    const token = cluster().state().hostTokens?.[host];
    if (!token) throw new Error(`the cluster's state has no host credential for ${host}`);
    return token;
  };
  const clientAs = (token: string) => {
    const { coordinatorUrl, caFile } = cluster().state();
    return new CoordinatorClient({ url: coordinatorUrl, token, caFile, timeoutMs: 15_000 });
  };
  const status = async (id: string): Promise<Deploy> => {
    const shown = await cluster().cli(['--json', 'status', id]);
    expect(shown.stdout, shown.stderr).not.toBe('');
    return JSON.parse(shown.stdout) as Deploy;
  };
  let deploy: Deploy | undefined;

  it('gives every host its own host credential, in its 0600 agent config, and the coordinator lists them', async () => {
    const state = cluster().state();
    const hosts = state.hosts.map((host) => host.name);
    const tokens = hosts.map(hostToken);
    expect(new Set(tokens).size).toBe(hosts.length);
    expect(tokens).not.toContain(state.token);
    for (const host of state.hosts) {
      const config = parseYaml(readFileSync(host.agentConfig, 'utf8')) as { coordinator: { token: string } };
      expect(config.coordinator.token, `${host.name}'s agent config`).toBe(hostToken(host.name));
    }
    const listed = await cluster().cli(['token', 'list']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    for (const host of hosts) expect(listed.stdout).toMatch(new RegExp(`^t-[a-f0-9]{8}\\s+host\\s+${host}\\s+${host}\\s+never\\s+${BOOTSTRAP.replace(/[()]/g, '\\$&')}$`, 'm'));
    for (const token of tokens) expect(listed.stdout).not.toContain(token);
  });

  it('deploys through the host credentials: every host reports as itself, and the deploy names who started it', async () => {
    const deployed = await cluster().deploy('web', 'production', 'v1');
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    deploy = deployed.deploy;
    expect(deploy.startedBy).toBe(BOOTSTRAP);
    expect(Object.keys(deploy.hosts).sort()).toEqual(cluster().hostsOf('production').sort());
    expect(Object.values(deploy.hosts).every((report) => report.state === 'succeeded')).toBe(true);
    const shown = await cluster().cli(['status', deploy.id]);
    expect(shown.stdout).toContain(`started by   ${BOOTSTRAP}`);
  });

  it('with a host credential: publish and deploy are refused with 403 naming the deployer scope', async () => {
    const token = hostToken('h1');
    const publish = await cliAs(token, ['release', 'publish', 'web', 'v2']);
    expect(publish.exitCode).toBe(2);
    expect(publish.stderr.trim()).toBe('grapevine: POST /v1/releases needs the deployer scope; this credential (host h1) is host');
    const before = await cluster().cli(['--json', 'status']);
    const started = await cliAs(token, ['deploy', 'web', '--env', 'production', '--tag', 'v2']);
    expect(started.exitCode).toBe(2);
    expect(started.stderr.trim()).toBe('grapevine: POST /v1/deploys needs the deployer scope; this credential (host h1) is host');
    expect((await cliAs(token, ['rollback', 'web', '--env', 'production'])).stderr).toContain('needs the deployer scope');
    // No deploy was created.
    expect((await cluster().cli(['--json', 'status'])).stdout).toBe(before.stdout);
  });

  it('with a host credential: a report for another host is refused with 403, and status shows that host unchanged', async () => {
    if (!deploy) throw new Error('no deploy from the test before');
    const before = await status(deploy.id);
    const forged: HostReport = { host: 'h2', state: 'failed', steps: [{ step: 'received', at: Date.now() }], error: 'forged: health check failed' };
    const refused = clientAs(hostToken('h1')).report(deploy.id, forged);
    await expect(refused).rejects.toBeInstanceOf(ForbiddenError);
    await expect(refused).rejects.toThrow('host h1 may report only as itself, not as h2');
    const after = await status(deploy.id);
    expect(after.hosts.h2).toEqual(before.hosts.h2);
    expect(after.status).toBe('succeeded');
    // Had it been taken, a failed report would have marked the release broken everywhere.
    const releases = await cluster().cli(['release', 'list', 'web']);
    expect(releases.stdout).not.toContain('BROKEN');
  });

  it('with a host credential: a report for a deploy that does not target the host is refused with 403', async () => {
    if (!deploy) throw new Error('no deploy from the test before');
    // A host about to join (h9) has its credential but is not one of this deploy's targets.
    const created = await cluster().cli(['token', 'create', '--scope', 'host', '--host', 'h9', '--ttl', '10m']);
    expect(created.exitCode, created.stderr).toBe(0);
    const h9 = clientAs(created.stdout.trim());
    const report: HostReport = { host: 'h9', state: 'succeeded', steps: [{ step: 'received', at: Date.now() }] };
    await expect(h9.report(deploy.id, report)).rejects.toThrow(`deploy ${deploy.id} does not target host h9; a host reports only for deploys that target it`);
    await expect(h9.getDeploy(deploy.id)).rejects.toBeInstanceOf(ForbiddenError);
    expect(Object.keys((await status(deploy.id)).hosts)).not.toContain('h9');
    // A host reads the deploys that target it, and only its own group's list.
    const h1 = clientAs(hostToken('h1'));
    expect((await h1.getDeploy(deploy.id)).id).toBe(deploy.id);
    expect((await h1.listDeploys({ role: 'web', env: 'production' })).map((d) => d.id)).toContain(deploy.id);
    await expect(h1.listDeploys({})).rejects.toThrow('host h1 may list only the deploys of its own group: name its role and env');
  });

  it('an operator makes, lists and revokes a token with the CLI; a viewer reads but cannot deploy; a revoked token is refused', async () => {
    const created = await cluster().cli(['--json', 'token', 'create', '--scope', 'viewer', '--name', 'dashboard', '--ttl', '1h']);
    expect(created.exitCode, created.stderr).toBe(0);
    const { credential, token } = JSON.parse(created.stdout) as { credential: { id: string }; token: string };
    expect((await cluster().cli(['token', 'list'])).stdout).toMatch(new RegExp(`^${credential.id}\\s+viewer\\s+dashboard\\s+-\\s+\\d{4}-`, 'm'));
    expect((await cliAs(token, ['status'])).exitCode).toBe(0);
    const deploys = await cliAs(token, ['deploy', 'web', '--env', 'production', '--tag', 'v1']);
    expect(deploys.stderr.trim()).toBe('grapevine: POST /v1/deploys needs the deployer scope; this credential (viewer dashboard) is viewer');
    const revoked = await cluster().cli(['token', 'revoke', credential.id]);
    expect(revoked.stdout.trim()).toBe(`revoked ${credential.id}`);
    const refused = await cliAs(token, ['status']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr.trim()).toBe('grapevine: unknown, revoked or expired token');
  });
}
