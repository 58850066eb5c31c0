// The fleet simulation's smoke, as CI runs it (`bench/run.js --smoke` runs it too): the built
// bench, its own Redis, two coordinator processes over it and 300 simulated hosts, one
// rolling deploy; the hosts share the coordinators as a fleet's agents do.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../dev-cluster/sample-app.js';

/** The build the tests run against: the one GRAPEVINE_BUNDLE names (dist-NAME/bundle/main.js), else dist. */
const DIST = process.env.GRAPEVINE_BUNDLE ? dirname(dirname(process.env.GRAPEVINE_BUNDLE)) : join(PROJECT_ROOT, 'dist');
const BENCH = join(DIST, 'bench', 'run.js');
const HOSTS = 300;

describe('fleet bench smoke', () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-fleet-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('deploys to 300 simulated hosts through two coordinators, each ending succeeded, and prints the fleet table', async () => {
    const json = join(dir, 'fleet.json');
    const run = await execa('node', [BENCH, '--fleet', String(HOSTS), '--fleet-timeout', '240', '--fleet-coordinators', '2', '--json', json], { reject: false, timeout: 420_000, cwd: PROJECT_ROOT });
    expect(run.exitCode, run.stderr.slice(-2_000)).toBe(0);
    expect(run.stdout).toMatch(/deploy status\s+succeeded/);
    expect(run.stdout).toMatch(new RegExp(`hosts per final state\\s+${HOSTS} succeeded`));
    const [result] = JSON.parse(readFileSync(json, 'utf8')).fleet;
    expect(result).toMatchObject({ hosts: HOSTS, slots: 100, waves: 3, status: 'succeeded', states: { succeeded: HOSTS } });
    // Every simulated host has its own Redis connection, as an agent does.
    expect(result.redisClientsPeak).toBeGreaterThanOrEqual(HOSTS);
    expect(result.wallMs).toBeGreaterThan(result.idealMs - 1);
    expect(result.coordinatorCpuMsPerHost).toBeGreaterThan(0);
    // Each coordinator served a part of the hosts' lookups and reports, picked by host name.
    expect(result.coordinatorsEach).toHaveLength(2);
    for (const each of result.coordinatorsEach as Array<{ cpuMsPerHost: number; requestShare: number }>) {
      expect(each.cpuMsPerHost).toBeGreaterThan(0);
      expect(each.requestShare).toBeGreaterThan(30);
    }
    expect(result.redisCommandsPerHost).toBeGreaterThan(0);
  }, 480_000);

  it('refuses a fleet above 20 000 hosts and a third coordinator, naming the option', async () => {
    const run = await execa('node', [BENCH, '--fleet', '20001'], { reject: false, timeout: 60_000, cwd: PROJECT_ROOT });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/--fleet takes whole numbers from 1 to 20000/);
    expect(run.stdout).toBe('');
    const three = await execa('node', [BENCH, '--fleet', '300', '--fleet-coordinators', '3'], { reject: false, timeout: 60_000, cwd: PROJECT_ROOT });
    expect(three.exitCode).toBe(2);
    expect(three.stderr).toMatch(/--fleet-coordinators takes 1 or 2/);
  }, 90_000);
});
