// Live CLI progress as people and scripts see it (README, "Live CLI progress"): `--wait
// --json` streams NDJSON ending with the ended deploy; off a terminal `--wait` prints plain
// lines in time order, then where the time went; on a terminal (a real pseudo-terminal) it
// redraws a per-host table in place, leaving every host `succeeded` on the screen, then the
// same summary; Ctrl-C gives the terminal back and leaves the deploy going. The cluster ends
// on v1, a good tag.
import { expect, it } from 'vitest';
import { criticalPathLines } from '../../../cli/watch/critical-path-lines.js';
import { summarize } from '../../../cli/deploy-watch.js';
import { CLI } from '../../../dev-cluster/sample-app.js';
import { byHostName } from '../../../shared/contract/deploy-analysis.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';
import { runOnPseudoTerminal } from '../../fixtures/pseudo-terminal.js';
import { replayTerminal } from '../../fixtures/terminal-screen.js';
import { waitEvents } from '../../fixtures/wait-output.js';

const ESC = '\u001B';
/** Plain progress lines: `  +1.23s h1           slot 1`. */
const PLAIN_LINE = /^\s*\+(\d+\.\d\d)s (\S+)\s+(\S+)/;
const ROLLOUT_MS = 240_000;

export function cliProgressChecks(cluster: () => TestCluster): void {
  let streamed: Deploy | undefined;

  const statusOf = async (id: string): Promise<Deploy> => {
    const shown = await cluster().cli(['--json', 'status', id]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    return JSON.parse(shown.stdout) as Deploy;
  };

  it('deploy --wait --json streams one JSON event per line: every host step, each once, then the ended deploy', async () => {
    const startedAt = Date.now();
    const run = await cluster().cli(['deploy', 'web', '--env', 'production', '--tag', 'v2', '--wait', '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const events = waitEvents(run.stdout);
    const last = events.at(-1)!;
    expect(last.event).toBe('deploy.finished');
    const deploy = last.deploy as Deploy;
    expect(deploy).toMatchObject({ role: 'web', env: 'production', tag: 'v2', status: 'succeeded' });
    streamed = deploy;
    expect(events.slice(0, -1).every((event) => event.event === 'host.step' || event.event === 'host.ended')).toBe(true);
    expect(events.every((event) => event.event === 'deploy.finished' || event.deploy === deploy.id)).toBe(true);
    const hosts = cluster().hostsOf('production');
    expect(Object.keys(deploy.hosts).sort()).toEqual([...hosts].sort());
    let outOfOrder = 0;
    for (const host of hosts) {
      const steps = events.filter((e) => e.event === 'host.step' && e.host === host);
      // Every step the deploy recorded for the host, each once, in the order the host took them.
      expect(steps.map((e) => e.step)).toEqual(deploy.hosts[host]!.steps.map((s) => s.step));
      expect(steps.map((e) => e.at)).toEqual(deploy.hosts[host]!.steps.map((s) => s.at));
      for (const step of ['received', 'slot', 'pull', 'up', 'health', 'register', 'release']) expect(steps.map((e) => e.step), host).toContain(step);
      expect(steps.find((e) => e.step === 'slot')?.slot).toBe(deploy.hosts[host]!.slot);
      expect(events.filter((e) => e.event === 'host.ended' && e.host === host)).toEqual([
        expect.objectContaining({ event: 'host.ended', deploy: deploy.id, host, state: 'succeeded' }),
      ]);
    }
    const times = events.slice(0, -1).map((e) => e.at as number);
    for (let i = 1; i < times.length; i++) if (times[i]! < times[i - 1]!) outOfOrder++;
    console.log(`[cli-progress] --wait --json: ${events.length} lines for ${hosts.length} hosts in ${Date.now() - startedAt} ms; ${outOfOrder} out of time order across hosts`);
  }, ROLLOUT_MS);

  it('off a terminal, --wait prints plain lines in time order, then where the time went, then the outcome', async () => {
    if (!streamed) throw new Error('no deploy streamed by the NDJSON check');
    const run = await cluster().cli(['status', streamed.id, '--wait']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).not.toContain(ESC);
    const lines = run.stdout.split('\n');
    const progress = lines.filter((line) => PLAIN_LINE.test(line));
    const offsets = progress.map((line) => Number(PLAIN_LINE.exec(line)![1]));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    for (const host of cluster().hostsOf('production')) {
      expect(progress.filter((line) => PLAIN_LINE.exec(line)![2] === host).map((line) => PLAIN_LINE.exec(line)![3])).toEqual([
        ...streamed.hosts[host]!.steps.map((s) => s.step),
        'SUCCEEDED',
      ]);
    }
    const record = await statusOf(streamed.id);
    expect(lines.slice(progress.length)).toEqual([...criticalPathLines(record), summarize(record)]);
  });

  /** The CLI on a pseudo-terminal sized 120 by 40, with the cluster's environment; no colour, so states must read as words. */
  const onTerminal = (args: string[], ctrlCOn?: string) => {
    const env = { ...cluster().cluster.cliEnv(), PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', NO_COLOR: '1' };
    return runOnPseudoTerminal([process.execPath, CLI, ...args], { env, rows: 40, columns: 120, timeoutMs: ROLLOUT_MS, ...(ctrlCOn === undefined ? {} : { ctrlCOn }) });
  };
  let interrupted: string | undefined;

  it('on a terminal, Ctrl-C gives the terminal back and stops following, not the deploy', async () => {
    const run = await onTerminal(['deploy', 'web', '--env', 'production', '--tag', 'v1', '--wait'], 'HOST  STEP');
    // Ended by the SIGINT itself, as before the table: 128 + 2.
    expect(run.exitCode, run.output.slice(-2_000)).toBe(130);
    const screen = replayTerminal(run.output);
    const header = screen.lines.find((line) => /^deploy d-\S+ {2}web:v1 -> production {2}in progress {2}/.test(line));
    expect(header, screen.lines.join('\n')).toBeDefined();
    interrupted = /^deploy (d-\S+)/.exec(header!)![1]!;
    expect(screen.lines).toContain(`grapevine: stopped following deploy ${interrupted}; it goes on: grapevine status ${interrupted} --wait`);
    // The cursor log-update hid is shown again.
    expect(run.output.lastIndexOf(`${ESC}[?25h`)).toBeGreaterThan(run.output.lastIndexOf(`${ESC}[?25l`));
  }, ROLLOUT_MS + 30_000);

  it('on a terminal, status --wait redraws a per-host table in place, leaves every host succeeded on screen, then the summary', async () => {
    if (!interrupted) throw new Error('no deploy left running by the Ctrl-C check');
    const startedAt = Date.now();
    const run = await onTerminal(['status', interrupted, '--wait']);
    expect(run.exitCode, run.output.slice(-2_000)).toBe(0);
    // Readable without colour: NO_COLOR leaves no colour sequence, only words.
    expect(run.output).not.toMatch(/\u001B\[[0-9;]*m/);
    const screen = replayTerminal(run.output);
    const frames = run.output.split(`${ESC}[?2026h`).length - 1;
    expect(screen.cursorUps, 'redraws in place').toBeGreaterThan(1);
    expect(screen.erasedLines).toBeGreaterThan(0);

    const header = screen.lines.findIndex((line) => line.startsWith(`deploy ${interrupted}  web:v1 -> production  succeeded  `));
    expect(header, screen.lines.join('\n')).toBe(0);
    const hosts = cluster().hostsOf('production').sort(byHostName);
    expect(screen.lines[header + 1]).toMatch(/^HOST\s+STEP\s+ELAPSED\s+SLOT$/);
    const rows = screen.lines.slice(header + 2, header + 2 + hosts.length);
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(hosts);
    for (const row of rows) expect(row).toMatch(/^\S+\s+succeeded\s+\d+\.\d s$/);

    const record = await statusOf(interrupted);
    expect(record).toMatchObject({ tag: 'v1', status: 'succeeded' });
    expect(screen.lines.slice(header + 2 + hosts.length)).toEqual([...criticalPathLines(record), summarize(record)]);
    console.log(`[cli-progress] terminal: ${run.output.length} bytes, ${frames} frames drawn, ${screen.cursorUps} cursor moves up, ${Date.now() - startedAt} ms; the screen at the end:\n${screen.lines.join('\n')}`);
  }, ROLLOUT_MS + 30_000);
}
