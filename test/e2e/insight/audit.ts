// The audit log and deploy history on a live cluster, as an operator reads them (README,
// "Insight"): a deployer (its own credential, from a token file) publishes and deploys two
// releases of this part's own, the operator marks the second broken, the deployer rolls back,
// the operator revokes the deployer. `grapevine audit --json` names each action's actor, and
// every production host's slot taken and released, with the slot and epoch its deploy
// recorded; `grapevine history` lists the deploys with who started them. Entries are picked
// by this part's own deploy ids and tags, so other parts' deploys change nothing here. The
// cluster ends on the rolled-back release: the sample app's v1, not broken.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import type { HistoryRow } from '../../../cli/history-command.js';
import { CLI } from '../../../dev-cluster/sample-app.js';
import type { AuditEntry } from '../../../shared/contract/audit-entry.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';

const OPERATOR = 'operator bootstrap (config)';
const DOCKER_TIMEOUT_MS = 120_000;
const ROLLOUT_MS = 240_000;
/** A finished deploy's duration as history prints it: `850 ms`, `8.2 s`, `1 m 05 s`. */
const DURATION = '(?:\\d+ ms|\\d+\\.\\d s|\\d+ m \\d\\d s)';

export function auditChecks(cluster: () => TestCluster): void {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-audit-'));
  const tokenFile = join(dir, 'deployer.token');
  // Tags of this part's own: `good` is the sample app's v1, `later` its v2.
  const suffix = Date.now().toString(36);
  const good = `audit-${suffix}-good`;
  const later = `audit-${suffix}-later`;
  const pushed: string[] = [];
  let deployer = '';
  let deployerToken = '';
  let credentialId = '';
  const deploys: { good?: Deploy; later?: Deploy; rollback?: Deploy } = {};

  afterAll(async () => {
    // Only the local tags go; the registry keeps what was pushed.
    for (const image of pushed) await execa('docker', ['image', 'rm', image], { stdin: 'ignore', reject: false, timeout: DOCKER_TIMEOUT_MS });
    rmSync(dir, { recursive: true, force: true });
  });

  /** The CLI as the deployer: its token from the file, none in the environment. */
  const asDeployer = async (args: string[]) => {
    const { GRAPEVINE_TOKEN: _operatorToken, ...env } = cluster().cluster.cliEnv();
    const result = await execa(process.execPath, [CLI, '--token-file', tokenFile, ...args], { env, extendEnv: false, reject: false, timeout: 300_000 });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  /** The CLI as the cluster's operator (the config's bootstrap token). */
  const asOperator = (args: string[]) => cluster().cli(args);
  const deployStatus = async (id: string): Promise<Deploy> => {
    const shown = await asOperator(['--json', 'status', id]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    return JSON.parse(shown.stdout) as Deploy;
  };
  /** Started by `start` (printing the deploy as JSON), followed to its end; the ended deploy. */
  const rollOut = async (start: string[]): Promise<Deploy> => {
    const started = await asDeployer(['--json', ...start]);
    expect(started.exitCode, started.stderr).toBe(0);
    const { id } = JSON.parse(started.stdout) as Deploy;
    const followed = await asOperator(['status', id, '--wait']);
    expect(followed.exitCode, `${followed.stdout}\n${followed.stderr}`).toBe(0);
    return deployStatus(id);
  };
  const audit = async (args: string[] = []): Promise<AuditEntry[]> => {
    const shown = await asOperator(['audit', '--json', '--since', '1h', '--limit', '1000', ...args]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    // Newest first, as the coordinator answers; oldest first here, as the story went.
    return shown.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as AuditEntry).reverse();
  };

  it('a deployer and the operator, each with its own credential, publish, deploy, mark broken, roll back and revoke', async () => {
    const created = await asOperator(['token', 'create', '--scope', 'deployer', '--name', `audit-${suffix}`]);
    expect(created.exitCode, created.stderr).toBe(0);
    deployerToken = created.stdout.trim();
    writeFileSync(tokenFile, `${deployerToken}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
    credentialId = /credential (t-[0-9a-f]{8})/.exec(created.stderr)?.[1] ?? '';
    expect(credentialId, created.stderr).not.toBe('');
    deployer = `deployer audit-${suffix} (${credentialId})`;

    const repository = `${cluster().cluster.state.registry}/web`;
    for (const [tag, from] of [[good, 'v1'], [later, 'v2']] as const) {
      await execa('docker', ['tag', `${repository}:${from}`, `${repository}:${tag}`], { stdin: 'ignore', timeout: DOCKER_TIMEOUT_MS });
      pushed.push(`${repository}:${tag}`);
      await execa('docker', ['push', '--quiet', `${repository}:${tag}`], { stdin: 'ignore', timeout: DOCKER_TIMEOUT_MS });
      const published = await asDeployer(['release', 'publish', 'web', tag]);
      expect(published.exitCode, published.stderr).toBe(0);
    }

    deploys.good = await rollOut(['deploy', 'web', '--env', 'production', '--tag', good]);
    deploys.later = await rollOut(['deploy', 'web', '--env', 'production', '--tag', later]);
    for (const deploy of [deploys.good, deploys.later]) expect(deploy).toMatchObject({ status: 'succeeded', startedBy: deployer });

    const marked = await asOperator(['mark-broken', 'web', later, '--reason', 'audit check: the operator marks it']);
    expect(marked.exitCode, marked.stderr).toBe(0);
    deploys.rollback = await rollOut(['rollback', 'web', '--env', 'production']);
    expect(deploys.rollback).toMatchObject({ status: 'succeeded', tag: good, rollbackOf: later, startedBy: deployer });

    const revoked = await asOperator(['token', 'revoke', credentialId]);
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    const refused = await asDeployer(['audit']);
    expect(refused.exitCode).toBe(2);
  }, 3 * ROLLOUT_MS);

  it('grapevine audit --json lists each action with its actor, and every host slot taken and released with its slot and epoch', async () => {
    const { good: first, later: second, rollback } = deploys;
    if (!first || !second || !rollback) throw new Error('the deploys of the first check did not all run');
    const ours = new Set([first.id, second.id, rollback.id]);
    const entries = await audit(['--role', 'web', '--env', 'production']);
    const mine = entries.filter((entry) => (entry.deployId !== undefined && ours.has(entry.deployId)) || entry.tag === good || entry.tag === later);
    const story = mine.filter((entry) => !entry.action.startsWith('slot.')).map((entry) => [entry.action, entry.tag, entry.deployId, entry.actor]);
    expect(story).toEqual([
      ['release.published', good, undefined, deployer],
      ['release.published', later, undefined, deployer],
      ['deploy.started', good, first.id, deployer],
      ['deploy.finished', good, first.id, 'coordinator'],
      ['deploy.started', later, second.id, deployer],
      ['deploy.finished', later, second.id, 'coordinator'],
      ['release.broken', later, undefined, OPERATOR],
      ['rollback.started', good, rollback.id, deployer],
      ['deploy.finished', good, rollback.id, 'coordinator'],
    ]);
    expect(mine.find((entry) => entry.action === 'release.broken')?.detail).toBe('audit check: the operator marks it');
    expect(mine.find((entry) => entry.action === 'rollback.started')?.detail).toMatch(new RegExp(`^rollback of ${later}; 3 hosts, 1 at a time$`));
    for (const entry of mine.filter((e) => e.action === 'deploy.finished')) expect(entry.detail).toMatch(/^succeeded in \d+\.\d s$/);

    // Per host and deploy: taken, then released, once each, with the slot and epoch the deploy's report holds.
    for (const deploy of [first, second, rollback]) {
      for (const host of cluster().hostsOf('production')) {
        const report = deploy.hosts[host];
        expect(report, `${deploy.id} ${host}`).toBeDefined();
        const moves = mine.filter((entry) => entry.deployId === deploy.id && entry.host === host);
        expect(moves.map((entry) => [entry.action, entry.actor]), `${deploy.id} ${host}`).toEqual([
          ['slot.taken', host],
          ['slot.released', host],
        ]);
        expect(moves[0]?.detail).toBe(`slot ${report?.slot}, epoch ${report?.epoch}`);
        expect(moves[1]?.detail).toBe(`slot ${report?.slot}; the host succeeded`);
      }
    }

    // Token changes are fleet-wide: no role, so asked for without the filters; the token itself is nowhere.
    const fleetWide = await audit();
    const tokens = fleetWide.filter((entry) => entry.action.startsWith('token.') && entry.detail?.includes(credentialId));
    expect(tokens.map((entry) => [entry.action, entry.actor, entry.detail])).toEqual([
      ['token.created', OPERATOR, `credential ${credentialId}, scope deployer, name audit-${suffix}, never expires`],
      ['token.revoked', OPERATOR, `credential ${credentialId}, scope deployer, name audit-${suffix}`],
    ]);
    expect(JSON.stringify(fleetWide)).not.toContain(deployerToken);
    expect(JSON.stringify(fleetWide)).not.toContain(cluster().state().token);

    // For people: one aligned line per entry, the deployer named on its deploy.
    const table = await asOperator(['audit', '--role', 'web', '--since', '1h', '--limit', '1000']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`Z {2}${escape(deployer)}\\s+rollback\\.started\\s+web/production ${good} ${rollback.id}: rollback of ${later}`));
    expect(table.stdout).toMatch(new RegExp(`Z {2}${escape(OPERATOR)}\\s+release\\.broken\\s+web ${later}: audit check: the operator marks it`));
    console.log(`[audit] ${entries.length} entries of web/production in the last hour; ${mine.length} of this part's 3 deploys`);
  });

  it('grapevine history web --env production shows the deploys with their kind, who started them and the outcome', async () => {
    const { good: first, later: second, rollback } = deploys;
    if (!first || !second || !rollback) throw new Error('the deploys of the first check did not all run');
    const shown = await asOperator(['history', 'web', '--env', 'production', '--limit', '50']);
    expect(shown.exitCode, shown.stderr).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toMatch(/^DEPLOY\s+TAG\s+KIND\s+STARTED\s+DURATION\s+STARTED BY\s+OUTCOME$/);
    const line = (id: string) => lines.find((l) => l.startsWith(`${id} `)) ?? `(no line for ${id})`;
    expect(line(rollback.id)).toMatch(new RegExp(`^${rollback.id}\\s+${good}\\s+rollback\\s+\\S+ \\S+Z\\s+${DURATION}\\s+${escape(deployer)}\\s+succeeded \\(replaced ${later}\\)$`));
    expect(line(second.id)).toMatch(new RegExp(`^${second.id}\\s+${later}\\s+rollout\\s+.+\\s+${escape(deployer)}\\s+succeeded$`));
    expect(line(first.id)).toMatch(new RegExp(`^${first.id}\\s+${good}\\s+rollout\\s+.+\\s+${escape(deployer)}\\s+succeeded$`));
    // Newest first.
    expect(lines.indexOf(line(rollback.id))).toBeLessThan(lines.indexOf(line(second.id)));
    expect(lines.indexOf(line(second.id))).toBeLessThan(lines.indexOf(line(first.id)));

    const json = await asOperator(['--json', 'history', 'web', '--env', 'production', '--limit', '50']);
    expect(json.exitCode, json.stderr).toBe(0);
    const rows = (JSON.parse(json.stdout) as HistoryRow[]).filter((row) => [first.id, second.id, rollback.id].includes(row.id));
    expect(rows.map((row) => [row.id, row.kind, row.status, row.startedBy])).toEqual([
      [rollback.id, 'rollback', 'succeeded', deployer],
      [second.id, 'rollout', 'succeeded', deployer],
      [first.id, 'rollout', 'succeeded', deployer],
    ]);
    for (const row of rows) expect(row.durationMs).toBe(Date.parse(row.finishedAt ?? '') - Date.parse(row.startedAt));
    console.log(`[audit] history: deploy durations ${rows.map((row) => `${row.kind} ${(row.durationMs / 1000).toFixed(1)} s`).join(', ')}`);
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
