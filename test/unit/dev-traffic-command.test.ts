// `grapevine dev traffic` as it ships (the bundled CLI) against a recorded cluster whose two
// frontends are small local HTTP servers: it finds the cluster by --dir or by --name, sends
// rate × seconds requests to the chosen environment's frontend and prints one summary line
// (or JSON), and refuses a rate, a duration or a pair of flags out of bounds by name.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterDirNamed } from '../../dev-cluster/cluster-by-name.js';
import { bundleCli } from '../fixtures/cli-against-coordinator.js';

const NAME = `gvtraffic${process.pid}`;

describe('grapevine dev traffic', { timeout: 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'gvtest-dev-traffic-'));
  let cli = '';
  let clusterDir = '';
  const servers: Server[] = [];
  const asked = { production: 0, staging: 0 };

  const frontend = async (env: 'production' | 'staging') => {
    const server = createServer((_request, response) => {
      asked[env] += 1;
      response.writeHead(200).end(`v1 ${env === 'production' ? 'h1' : 's1'}\n`);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const run = (args: string[]) => execa('node', [cli, ...args], { reject: false, env: { HOME: work } });

  beforeAll(async () => {
    cli = await bundleCli(join(work, 'bundle'));
    // Where the tests' clusters record themselves: <tmp>/<name>-XXXXXX.
    clusterDir = mkdtempSync(join(tmpdir(), `${NAME}-`));
    writeFileSync(join(clusterDir, 'state.json'), JSON.stringify({ name: NAME, lbUrl: await frontend('production'), stagingLbUrl: await frontend('staging') }));
  }, 60_000);
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    rmSync(work, { recursive: true, force: true });
    rmSync(clusterDir, { recursive: true, force: true });
  });

  it("finds a test's cluster by name and sends rate × seconds requests to production, printing JSON", async () => {
    const result = await run(['dev', 'traffic', '--name', NAME, '--rate', '20', '--for', '1', '--json']);
    expect(result.stderr).toContain(`dev traffic: 20/s to http://127.0.0.1:`);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ env: 'production', sent: 20, answered: 20, failed: 0, byStatus: { '200': 20 }, byBody: { 'v1 h1': 20 } });
    expect(asked.production).toBe(20);
  });

  it('asks the staging frontend with --env staging and prints one line', async () => {
    const result = await run(['dev', 'traffic', '--dir', clusterDir, '--env', 'staging', '--rate', '10', '--for', '1']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^10 requests in [\d.]+ s: 200 ×10; v1 s1 ×10; 0 failed; [\d.]+ ms median, [\d.]+ ms p95$/);
    expect(asked.staging).toBe(10);
  });

  it('refuses a rate or duration out of bounds, both --dir and --name, and a cluster it cannot find', async () => {
    const askedBefore = asked.production + asked.staging;
    const [rate, zero, long, both, env, unknown, noDir] = await Promise.all([
      run(['dev', 'traffic', '--dir', clusterDir, '--rate', '501']),
      run(['dev', 'traffic', '--dir', clusterDir, '--rate', '0']),
      run(['dev', 'traffic', '--dir', clusterDir, '--for', '601']),
      run(['dev', 'traffic', '--dir', clusterDir, '--name', NAME]),
      run(['dev', 'traffic', '--dir', clusterDir, '--env', 'qa']),
      run(['dev', 'traffic', '--name', `${NAME}x`]),
      run(['dev', 'traffic', '--dir', join(work, 'nothing')]),
    ]);
    const refusals = { rate: rate!, zero: zero!, long: long!, both: both!, env: env!, unknown: unknown!, noDir: noDir! };
    expect(Object.values(refusals).map((result) => result.exitCode === 0)).toEqual(Object.values(refusals).map(() => false));
    expect(refusals.rate.stderr).toMatch(/--rate must be 0.1 to 500 requests a second, not "501"/);
    expect(refusals.zero.stderr).toMatch(/--rate must be 0.1 to 500/);
    expect(refusals.long.stderr).toMatch(/--for must be 1 to 600 seconds, not "601"/);
    expect(refusals.both.stderr).toMatch(/give --dir or --name, not both/);
    expect(refusals.env.stderr).toMatch(/--env.*qa.*production, staging/);
    expect(refusals.unknown.stderr).toMatch(new RegExp(`no local cluster named "${NAME}x"`));
    expect(refusals.noDir.stderr).toMatch(/no local cluster recorded in .*nothing: run grapevine dev up/);
    expect(asked.production + asked.staging).toBe(askedBefore);
  });
});

describe('clusterDirNamed', () => {
  it("picks the most recently written state of the named cluster, and not another cluster's", () => {
    const temporary = mkdtempSync(join(tmpdir(), 'gvtest-cluster-by-name-'));
    try {
      const record = (folder: string, name: string, secondsAgo: number) => {
        const dir = join(temporary, folder);
        mkdirSync(dir);
        writeFileSync(join(dir, 'state.json'), JSON.stringify({ name }));
        const at = new Date(Date.now() - secondsAgo * 1000);
        utimesSync(join(dir, 'state.json'), at, at);
        return dir;
      };
      record('gvjdg-old', 'gvjdg', 600);
      const latest = record('gvjdg-new', 'gvjdg', 5);
      record('gvjdg-x-other', 'gvjdg-x', 1);
      mkdirSync(join(temporary, 'gvjdg-empty'));
      expect(clusterDirNamed('gvjdg', join(temporary, 'none'), temporary)).toBe(latest);
      expect(() => clusterDirNamed('gvstr', join(temporary, 'none'), temporary)).toThrow(/no local cluster named "gvstr"/);
      expect(() => clusterDirNamed('../etc', join(temporary, 'none'), temporary)).toThrow(/is not a cluster name/);
    } finally {
      rmSync(temporary, { recursive: true, force: true });
    }
  });
});
