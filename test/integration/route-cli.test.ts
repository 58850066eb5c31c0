// `grapevine route` and `grapevine cluster retire` as they ship, against the coordinator served
// over HTTP with its routes applied by a real relay to a real HAProxy (test/fixtures/routed-coordinator.ts):
// what an operator types, reads and gets as an exit code.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { cliAgainstCoordinator } from '../fixtures/cli-against-coordinator.js';
import { TOKEN } from '../fixtures/coordinator-harness.js';
import { routedCoordinator } from '../fixtures/routed-coordinator.js';

const routed = routedCoordinator();
const served = cliAgainstCoordinator('route', () => routed.coordinator);
const grapevine = (...args: string[]) =>
  execa(process.execPath, [served.cli, ...args], { env: { GRAPEVINE_COORDINATOR: served.url, GRAPEVINE_TOKEN: TOKEN }, extendEnv: false, reject: false, timeout: 30_000 });

describe('grapevine route and cluster retire', () => {
  it('sets, lists and removes routes, moves the default and retires the cluster left without traffic', async () => {
    const set = await grapevine('route', 'set', 'web', '--env', 'production', '--client', '>=1.1', '--cluster', 'white');
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stdout).toContain('>=1.1');
    expect(set.stdout).toMatch(/-> white/);
    expect(await routed.answeredBy('1.1')).toBe('white');

    const ios = await grapevine('route', 'set', 'web', '--env', 'production', '--client', '<1.0', '--client-type', 'ios', '--cluster', 'white');
    expect(ios.exitCode, ios.stderr).toBe(0);
    const list = await grapevine('--json', 'route', 'list', 'web', '--env', 'production');
    expect(list.exitCode, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ routes: [{ client: '<1.0', clientType: 'ios', cluster: 'white' }, { client: '>=1.1', cluster: 'white' }], defaultCluster: 'red' });

    const refused = await grapevine('cluster', 'retire', 'web', '--env', 'production', '--cluster', 'red');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('the default cluster');

    expect((await grapevine('route', 'rm', 'web', '--env', 'production', '--client', '<1.0', '--client-type', 'ios')).exitCode).toBe(0);
    expect((await grapevine('route', 'default', 'web', '--env', 'production', '--cluster', 'white')).exitCode).toBe(0);
    expect(await routed.answeredBy('1.0')).toBe('white');
    const retired = await grapevine('cluster', 'retire', 'web', '--env', 'production', '--cluster', 'red');
    expect(retired.exitCode, retired.stderr).toBe(0);
    expect(retired.stdout).toContain('1 servers of web.red in maintenance');

    const usage = await grapevine('route', 'usage', 'web', '--env', 'production', '--window', '1m');
    expect(usage.exitCode, usage.stderr).toBe(0);
    expect(usage.stdout).toMatch(/red\s+\d+\s+\d+\s+web\.red\s+\(retired\)/);
  });

  it('refuses bad input before asking the coordinator, naming the option, with exit 2', async () => {
    const range = await grapevine('route', 'set', 'web', '--env', 'production', '--client', '>=1.x', '--cluster', 'white');
    expect(range.exitCode).toBe(2);
    expect(range.stderr).toContain('--client');
    const cluster = await grapevine('route', 'default', 'web', '--env', 'production', '--cluster', 'Red!');
    expect(cluster.exitCode).toBe(2);
    expect(cluster.stderr).toContain('--cluster');
    const unknown = await grapevine('route', 'set', 'web', '--env', 'production', '--client', '>=1.1', '--cluster', 'blue');
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('its clusters are red, white');
    const window = await grapevine('route', 'usage', 'web', '--env', 'production', '--window', 'soon');
    expect(window.exitCode).toBe(2);
    expect(window.stderr).toContain('--window');
    expect(await routed.storedRoutes()).toBeNull();
  });
});
