// TLS for the coordinator and the load balancer's relay on a cluster brought up with its
// own CA (`dev up --tls`): a deploy goes through HTTPS end to end; the CLI without the CA,
// and plain HTTP to either port, get a clear refusal instead of an answer.
import { readFileSync, statSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { expect, it } from 'vitest';
import { CLI } from '../../../dev-cluster/sample-app.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';

const CLI_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 5_000;

export function tlsChecks(cluster: () => TestCluster): void {
  it("serves the coordinator and the relay over HTTPS with the cluster's own CA, which the hosts, the CLI and `dev status` name", async () => {
    const state = cluster().state();
    expect(state.coordinatorUrl).toMatch(/^https:\/\//);
    expect(state.relayUrl).toMatch(/^https:\/\//);
    const caFile = state.caFile!;
    expect(readFileSync(caFile, 'utf8')).toContain('-----BEGIN CERTIFICATE-----');
    expect(statSync(join(dirname(caFile), 'ca.key')).mode & 0o777).toBe(0o600);
    for (const host of state.hosts) expect((parseYaml(readFileSync(host.agentConfig, 'utf8')) as { caFile?: string }).caFile).toBe(caFile);
    expect(readFileSync(join(state.dir, 'secrets.env'), 'utf8')).toContain(`export GRAPEVINE_CA_FILE='${caFile}'`);
    const status = await cluster().cli(['dev', 'status', '--dir', state.dir]);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain(`CA file:       ${caFile}`);
  });

  it('runs a deploy through HTTPS end to end: the CLI creates and follows it, every host reports over HTTPS and registers through the relay', async () => {
    const { exitCode, deploy } = await cluster().deploy('web', 'production', 'v2');
    expect(exitCode).toBe(0);
    expect(deploy.status).toBe('succeeded');
    const hosts = cluster().hostsOf('production');
    expect(Object.keys(deploy.hosts).sort()).toEqual(hosts);
    for (const host of hosts) {
      expect(deploy.hosts[host]?.state).toBe('succeeded');
      expect(deploy.hosts[host]?.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['drain', 'register']));
    }
    // With --ca-file instead of the environment, the same.
    const env = withoutCa(cluster());
    const listed = await runCli(['--ca-file', cluster().state().caFile!, 'status', deploy.id, '--json'], env);
    expect(listed.exitCode).toBe(0);
    expect((JSON.parse(listed.stdout) as Deploy).status).toBe('succeeded');
  });

  it('the CLI without the CA exits 2 with one line naming the URL and the certificate problem', async () => {
    const { coordinatorUrl } = cluster().state();
    const result = await runCli(['status'], withoutCa(cluster()));
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      `grapevine: coordinator at ${coordinatorUrl}: its certificate did not verify: it is signed by a CA that is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE); trusted: Node.js's public CAs (no CA file given: --ca-file, GRAPEVINE_CA_FILE or caFile)`,
    ]);
  });

  it("plain HTTP to the coordinator's or the relay's port gets no answer, and the CLI says to use https://", async () => {
    const state = cluster().state();
    const plainCoordinator = state.coordinatorUrl.replace(/^https:/, 'http:');
    const result = await runCli(['status'], { ...cluster().cluster.cliEnv(), GRAPEVINE_COORDINATOR: plainCoordinator });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim()).toBe(`grapevine: coordinator at ${plainCoordinator} is unreachable (socket hang up; if it serves HTTPS, use https://)`);
    for (const url of [plainCoordinator, state.relayUrl!.replace(/^https:/, 'http:')]) {
      await expect(plainGet(`${url}/healthz`)).rejects.toThrow(/socket hang up|ECONNRESET/);
    }
    // And over HTTPS with the CA, both answer.
    const ca = readFileSync(state.caFile!, 'utf8');
    for (const url of [state.coordinatorUrl, state.relayUrl!]) expect(await secureGet(`${url}/healthz`, ca)).toBe(200);
  });
}

function withoutCa(cluster: TestCluster): Record<string, string> {
  const { GRAPEVINE_CA_FILE: _, ...env } = cluster.cluster.cliEnv();
  return env;
}

async function runCli(args: string[], env: Record<string, string>): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  // Not extending this process's environment: nothing but `env` tells the CLI where the CA is.
  const result = await execa(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, extendEnv: false, reject: false, timeout: CLI_TIMEOUT_MS });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function plainGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { timeout: REQUEST_TIMEOUT_MS }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

function secureGet(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpsGet(url, { ca, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}
