// A role's hooks (test/e2e/hooks-and-job.test.ts has the cluster, 6 production hosts, k = 2):
// every host runs them around its deploy with the deploy's context, they show in `grapevine
// status`, and a failing after-register smoke test stops the rollout after the first wave with
// the hook's output in the reason; a rollback runs them too.
import { beforeAll, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoleHooks } from '../../../shared/contract/role-config.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, maxConcurrentDeploying, type TestCluster } from '../../fixtures/cluster.js';
import { endedDeploy } from '../../fixtures/wait-output.js';

/** Each run of a hook as the hook script recorded it: `HOOK HOST TAG DIGEST DEPLOY_ID ROLLBACK_OF`. */
export interface HookRun {
  hook: string;
  host: string;
  tag: string;
  digest: string;
  deployId: string;
  rollbackOf: string;
}

/** The hook script every host runs, written before the cluster starts (its hooks name it), and the runs it recorded. */
export interface HookScript {
  hooks: RoleHooks;
  runs(tag: string): HookRun[];
  remove(): void;
}

export function writeHookScript(): HookScript {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-hooks-'));
  const runsFile = join(dir, 'runs.log');
  const script = join(dir, 'hook.sh');
  // One script for the three hooks: each run is recorded; after-register is a smoke test of
  // the new version on this host, which must answer with the tag it was deployed as.
  writeFileSync(
    script,
    `#!/bin/sh
echo "$GRAPEVINE_HOOK $GRAPEVINE_HOST $GRAPEVINE_TAG $GRAPEVINE_IMAGE_DIGEST $GRAPEVINE_DEPLOY_ID \${GRAPEVINE_ROLLBACK_OF:--}" >> ${runsFile}
[ "$GRAPEVINE_HOOK" = after-register ] || exit 0
body=$(curl -fsS --max-time 5 "http://$GRAPEVINE_LB_ADDRESS/") || { echo "smoke test: no answer from $GRAPEVINE_LB_ADDRESS"; exit 3; }
case "$body" in
  "$GRAPEVINE_TAG "*) echo "smoke test passed: $body" ;;
  *) echo "checked http://$GRAPEVINE_LB_ADDRESS/"; echo "smoke test: expected $GRAPEVINE_TAG, got $body"; exit 3 ;;
esac
`,
  );
  chmodSync(script, 0o755);
  const hookCommand = { command: [script], timeoutMs: 20_000, shell: false };
  return {
    hooks: { beforeDrain: hookCommand, afterUp: hookCommand, afterRegister: hookCommand },
    runs(tag) {
      if (!existsSync(runsFile)) return [];
      return readFileSync(runsFile, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const [hook = '', host = '', runTag = '', digest = '', deployId = '', rollbackOf = ''] = line.split(' ');
          return { hook, host, tag: runTag, digest, deployId, rollbackOf };
        })
        .filter((run) => run.tag === tag);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const stepsOf = (deploy: Deploy, host: string) => deploy.hosts[host]?.steps.map((s) => s.step) ?? [];

export function hookChecks(cluster: () => TestCluster, script: () => HookScript): void {
  let fleet: TestCluster;
  let runs: HookScript['runs'];

  beforeAll(() => {
    fleet = cluster();
    runs = (tag) => script().runs(tag);
  });

  it('a passing hook set deploys every host, each hook once per host with the deploy context, shown in status', async () => {
    const v1 = await fleet.deploy('web', 'production', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
    // The cluster's role has a job too: every host waits for it (`job`) before it asks for a slot.
    for (const host of PRODUCTION) {
      expect(stepsOf(v1.deploy, host)).toEqual([
        'received', 'job', ...(stepsOf(v1.deploy, host).includes('waiting') ? ['waiting'] : []), 'slot', 'before-drain', 'drain', 'pull', 'up',
        'health', 'after-up', 'register', 'after-register', 'release',
      ]);
    }
    // This deploy's runs: the other part deploys v1 too.
    const ran = runs('v1').filter((run) => run.deployId === v1.deploy.id);
    for (const hook of ['before-drain', 'after-up', 'after-register']) {
      expect(ran.filter((run) => run.hook === hook).map((run) => run.host).sort()).toEqual(PRODUCTION);
    }
    // The digest the registry gave the image, the same on every host once it pulled it.
    const digests = [...new Set(ran.filter((run) => run.hook !== 'before-drain').map((run) => run.digest))];
    expect(digests).toHaveLength(1);
    expect(digests[0]).toMatch(/\/web@sha256:[0-9a-f]{64}$/);
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v1', PRODUCTION));

    const status = await fleet.cli(['status', v1.deploy.id]);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/h1 +succeeded +received > .*slot > before-drain > drain > pull > up > health > after-up > register > after-register > release/);
  });

  it('a failing after-register smoke test stops the rollout after the first wave, with its output in the reason', async () => {
    // v3 is published with v2's image: the new version answers "v2 hN", which the smoke test refuses.
    const published = await fleet.cli(['release', 'publish', 'web', 'v3', '--image', `${fleet.cluster.state.registry}/web:v2`]);
    expect(published.exitCode, published.stderr).toBe(0);
    const v3 = await fleet.deploy('web', 'production', 'v3');
    expect(v3.exitCode).toBe(1);
    expect(v3.deploy.status).toBe('failed');
    const subnet = fleet.cluster.state.subnet.replaceAll('.', '\\.');
    expect(v3.deploy.reason).toMatch(new RegExp(`hook after-register failed \\(exit 3\\): checked http://${subnet}\\.\\d+:\\d+/ \\| smoke test: expected v3, got v2 h\\d`));

    const hosts = Object.values(v3.deploy.hosts);
    const started = hosts.filter((h) => h.steps.some((s) => s.step === 'up'));
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(started.length).toBeLessThanOrEqual(2);
    expect(maxConcurrentDeploying(v3.deploy)).toBeLessThanOrEqual(2);
    const smokeTested = runs('v3').filter((run) => run.hook === 'after-register');
    expect(smokeTested.length).toBeGreaterThanOrEqual(1);
    expect(smokeTested.length).toBeLessThanOrEqual(2);
    expect(hosts.filter((h) => h.state === 'failed').map((h) => h.host).sort()).toEqual(smokeTested.map((run) => run.host).sort());
    expect(hosts.filter((h) => h.state === 'cancelled').length).toBeGreaterThanOrEqual(4);
    expect(hosts.every((h) => h.state === 'failed' || h.state === 'cancelled')).toBe(true);
    // The first wave's two slots were the only ones taken: the other hosts stood down without one.
    const tookSlot = hosts.filter((h) => h.steps.some((s) => s.step === 'slot'));
    expect(tookSlot.length).toBeLessThanOrEqual(2);
    for (const host of hosts.filter((h) => !tookSlot.includes(h))) expect(host.state).toBe('cancelled');

    // What an operator reads: the failed host's row and the deploy's reason carry the hook's output.
    const status = await fleet.cli(['status', v3.deploy.id]);
    expect(status.stdout).toMatch(/failed +received > .*register > after-register > release +\(hook after-register failed \(exit 3\): .*smoke test: expected v3, got v2 h\d\)/);
    // The hosts that tried it put v1 back, the others never left it; v3 is broken everywhere.
    expect(await fleet.lbAnswers(24)).toEqual(answersFrom('v1', PRODUCTION));
    const again = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v3']);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/web:v3 is marked broken/);
  });

  it("a rollback runs the host's hooks, told the tag it deploys back to and the one it replaces", async () => {
    const v2 = await fleet.deploy('web', 'production', 'v2');
    expect(v2.deploy.status, v2.stderr).toBe('succeeded');
    const rollback = await fleet.cli(['rollback', 'web', '--env', 'production', '--wait', '--json']);
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    const back = endedDeploy(rollback.stdout);
    expect(back).toMatchObject({ tag: 'v1', rollbackOf: 'v2', status: 'succeeded' });
    const ran = runs('v1').filter((run) => run.deployId === back.id);
    for (const hook of ['before-drain', 'after-up', 'after-register']) {
      expect(ran.filter((run) => run.hook === hook).map((run) => run.host).sort()).toEqual(PRODUCTION);
    }
    expect(new Set(ran.map((run) => run.rollbackOf))).toEqual(new Set(['v2']));
    for (const host of PRODUCTION) expect(stepsOf(back, host)).toContain('after-register');
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom('v1', PRODUCTION));
  });
}
