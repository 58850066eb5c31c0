// Every host converges: a host whose agent died while HAProxy held it in maintenance (as a
// drain leaves it) serves again soon after its agent restarts, and an HAProxy reload keeps every
// registered server ready (its servers saved into the config and the server-state file before
// it), sampled as an operator watches the load balancer. The run prints the figures.
import net from 'node:net';
import { expect, it } from 'vitest';
import type { ChaosOutcome } from '../../../dev-cluster/dev-cluster.js';
import { PRODUCTION, readyServers, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { recordFault } from '../fault-table.js';
import { watchService, type ServiceFigures } from '../service-watch.js';
import { nextRollout } from './settled-group.js';

const HOSTS = PRODUCTION;
/** The promise of issue 8: back in service within 60 s of the agent restarting. */
const BACK_AFTER_RESTART_MS = 60_000;
/** The service watch's own bound: the reload case ends long before. */
const WATCH_MAX_MS = 120_000;
const SAMPLE = { intervalMs: 250 };

export function reconcileChecks(cluster: () => TestCluster): void {
  const state = () => cluster().state();
  const chaos = (...args: string[]) => cluster().chaos(...args);
  /** Server name to admin state (0 ready, 1 maintenance, 8 drain ...) and whether it is up, from the runtime socket. */
  const serverStates = async () => {
    const reply = await runtimeCommand(state().runtimeSocket, 'show servers state web');
    const [header, ...rows] = reply.split('\n').slice(1);
    const columns = (header ?? '').replace(/^#\s*/, '').split(' ');
    const states = new Map<string, { admin: string; op: string }>();
    for (const row of rows) {
      const cells = row.split(' ');
      if (cells.length < columns.length) continue;
      states.set(cells[columns.indexOf('srv_name')]!, { admin: cells[columns.indexOf('srv_admin_state')]!, op: cells[columns.indexOf('srv_op_state')]! });
    }
    return states;
  };
  const serving = (states: Map<string, { admin: string; op: string }>, host: string) => states.get(host)?.admin === '0' && states.get(host)?.op === '2';

  it('a host whose agent died while it was in maintenance serves again within 60 s of its agent restarting', async () => {
    const fleet = cluster();
    const { from } = await nextRollout(fleet);
    await runtimeCommand(state().runtimeSocket, 'set server web/h2 state maint');
    expect(serving(await serverStates(), 'h2')).toBe(false);
    await chaos('kill-agent', 'h2');
    expect(serving(await serverStates(), 'h2')).toBe(false);
    await chaos('restart-agent', 'h2');
    const restartedAt = Date.now();
    await until('HAProxy to answer from h2 again', async () => {
      const answers = await fleet.lbAnswers(HOSTS.length * 2);
      return answers.has(`200 ${from} h2`) ? true : undefined;
    }, { timeoutMs: BACK_AFTER_RESTART_MS, ...SAMPLE });
    const seconds = (Date.now() - restartedAt) / 1000;
    console.log(`reconcile: h2 in maintenance, agent killed and restarted | served from h2 again ${seconds.toFixed(1)} s after the restart (promise: 60 s)`);
    expect(serving(await serverStates(), 'h2')).toBe(true);
  });

  it('during an HAProxy reload no request fails and no server leaves ready', async () => {
    const fleet = cluster();
    const { from } = await nextRollout(fleet);
    const watching = watchService({ runtimeSocket: state().runtimeSocket, backend: 'web', servers: HOSTS, url: state().lbUrl, maxMs: WATCH_MAX_MS });
    let figures: ServiceFigures | undefined;
    let reload: ChaosOutcome | undefined;
    try {
      reload = await chaos('reload-haproxy');
      // The new worker serves every host, as the old one did: no reconcile round involved.
      expect(await readyServers(state().runtimeSocket, 'web')).toEqual(new Set(HOSTS));
      expect(await fleet.lbAnswers(HOSTS.length * 4)).toEqual(new Set(HOSTS.map((h) => `200 ${from} ${h}`)));
    } finally {
      figures = await watching.stop();
      recordFault({
        fault: `HAProxy reload (dev chaos reload-haproxy) of ${HOSTS.length} registered hosts`,
        mostOut: figures.mostOut,
        finalState: reload ? `new worker pid ${reload.pids.worker}, every host still registered` : 'reload failed',
        requests: figures.requests,
        requestsFailed: figures.requestsFailed,
        samples: figures.samples,
        samplesUnanswered: figures.samplesUnanswered,
      });
    }
    expect(reload.pids.worker).toBeGreaterThan(0);
    expect(figures.samples - figures.samplesUnanswered).toBeGreaterThan(0);
    expect(figures.requests).toBeGreaterThan(0);
    expect(figures.mostOut).toBe(0);
    expect(figures.requestsFailed).toBe(0);
    const after = await serverStates();
    expect(HOSTS.filter((host) => !serving(after, host))).toEqual([]);
  });
}

/** One command on HAProxy's admin socket; HAProxy answers and closes. */
function runtimeCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection(socketPath);
    socket.setTimeout(2_000, () => socket.destroy(new Error(`HAProxy did not answer "${command}" within 2 s`)));
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
