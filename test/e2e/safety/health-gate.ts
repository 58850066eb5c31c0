// The health gate (test/e2e/safety.test.ts has the cluster: deadline 30 s, soak 3 s): apps that
// start after 0, 5 and 20 s all deploy (each a tag of the sample app with its own START_DELAY,
// so one cluster serves all three); one that never becomes healthy fails at the deadline, with
// that reason, while Docker has long called it unhealthy; one that turns unhealthy during the
// soak fails; neither is registered anywhere, and the hosts it reached serve the previous version again.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execa } from 'execa';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { PRODUCTION, answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

const DEADLINE_MS = 30_000;
const SOAK_MS = 3_000;
/** The cluster's gate (safety.test.ts). */
export const HEALTH_GATE = { healthyDeadlineMs: DEADLINE_MS, minHealthyTimeMs: SOAK_MS };
/**
 * Docker's check of the app every second, as the dev cluster's, but with time to run on a busy
 * machine: cut off at 1 s, a check became Docker's last verdict ("Health check exceeded timeout
 * (1s)") in place of the 404 the deadline's reason names (seen in a CI run). The bad tag's check
 * fails at once, so when Docker first calls it unhealthy does not change.
 */
export const DOCKER_CHECK = { interval: '1s', timeout: '5s' };
/** Tags built on v1 for this part: the sample app's start delay, and how long it answers healthy (unset: always). */
const VARIANTS: Record<string, { START_DELAY: string; HEALTHY_FOR?: string }> = {
  delay5: { START_DELAY: '5' },
  delay20: { START_DELAY: '20' },
  flaky: { START_DELAY: '0', HEALTHY_FOR: '1' },
};
/** The sample app's `bad` image under this part's own tag: the other part's deploy of `bad` marks that tag broken. */
const NEVER_HEALTHY = 'never-healthy';

export function healthGateChecks(cluster: () => TestCluster): void {
  let fleet: TestCluster;
  const images: string[] = [];

  beforeAll(async () => {
    fleet = cluster();
    const repository = `${fleet.cluster.state.registry}/web`;
    for (const [tag, env] of Object.entries(VARIANTS)) {
      const image = `${repository}:${tag}`;
      const settings = Object.entries({ APP_VERSION: tag, ...env }).map(([name, value]) => `${name}=${value}`);
      await execa('docker', ['build', '--quiet', '--tag', image, '-'], { input: `FROM ${repository}:v1\nENV ${settings.join(' ')}\n` });
      images.push(image);
      await execa('docker', ['push', '--quiet', image]);
      const published = await fleet.cli(['release', 'publish', 'web', tag]);
      expect(published.exitCode, published.stderr).toBe(0);
    }
    const published = await fleet.cli(['release', 'publish', 'web', NEVER_HEALTHY, '--image', `${repository}:bad`]);
    expect(published.exitCode, published.stderr).toBe(0);
  });

  afterAll(async () => {
    if (images.length > 0) await execa('docker', ['image', 'rm', ...images], { reject: false });
  });

  const expectDeployed = async (tag: string) => {
    const { exitCode, stderr, deploy } = await fleet.deploy('web', 'production', tag);
    expect(exitCode, stderr).toBe(0);
    expect(deploy.status).toBe('succeeded');
    expect(Object.values(deploy.hosts).map((host) => host.state)).toEqual(PRODUCTION.map(() => 'succeeded'));
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom(tag, PRODUCTION));
  };

  /** What the hosts serve after the first case: the failing cases' hosts put it back, so a quick starter. */
  const SERVING = 'delay5';

  it('deploys apps that start serving after 0, 5 and 20 s', async () => {
    await expectDeployed('v1');
    await expectDeployed('delay20');
    // Last: each host that tries a failing tag below restarts it, in 5 s rather than 20.
    await expectDeployed(SERVING);
  });

  /** The failed hosts never reached `register`; the rollout stopped after them and every host serves `serving`. */
  const expectNotCounted = async (deploy: Deploy, serving: string) => {
    const failed = Object.entries(deploy.hosts).filter(([, host]) => host.state === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const [, host] of failed) expect(host.steps.map((step) => step.step)).not.toContain('register');
    expect(Object.values(deploy.hosts).some((host) => host.state === 'succeeded')).toBe(false);
    expect(await fleet.lbAnswers(18)).toEqual(answersFrom(serving, PRODUCTION));
  };

  it('fails an app that never becomes healthy at the deadline, not at Docker\'s first unhealthy verdict', async () => {
    // Hosts run the release as published: pinned to its digest.
    const badImage = (await fleet.cluster.client().listReleases('web')).find((release) => release.tag === NEVER_HEALTHY)?.image;
    expect(badImage).toMatch(/@sha256:[0-9a-f]{64}$/);
    const deploying = fleet.deploy('web', 'production', NEVER_HEALTHY);
    // While the first hosts wait, Docker has already called a container of it unhealthy and the deploy has failed no host.
    // Production hosts only: a staging host may still run the same image from the other part's failed staging deploy.
    const first = await until(`a container of ${NEVER_HEALTHY} that Docker calls unhealthy`, async () => {
      for (const host of fleet.cluster.state.hosts.filter((h) => h.env === 'production')) {
        const inspected = await execa('docker', ['inspect', '--format', '{{.Config.Image}} {{.State.Health.Status}}', `${host.project}-app-1`], { reject: false });
        if (inspected.stdout === `${badImage} unhealthy`) return host.name;
      }
      return undefined;
      // Docker's start period (10 s without a cluster-wide start delay) and two failed checks come first.
    }, { timeoutMs: 40_000, intervalMs: 250 });
    // The list gives summaries (counts, no host reports); the deploy's own status has its hosts.
    const listed = await fleet.cli(['status', '--json']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    const summary = (JSON.parse(listed.stdout) as Array<Pick<Deploy, 'id' | 'tag' | 'status'>>).find((deploy) => deploy.tag === NEVER_HEALTHY);
    expect(summary?.status).toBe('in_progress');
    if (!summary) return;
    const during = await fleet.cli(['status', summary.id, '--json']);
    expect(during.exitCode, during.stderr).toBe(0);
    const running = JSON.parse(during.stdout) as Deploy;
    expect(running.status).toBe('in_progress');
    expect(running.hosts[first]?.state).toBe('deploying');
    expect(Object.values(running.hosts).map((host) => host.state)).not.toContain('failed');

    const { exitCode, deploy } = await deploying;
    expect(exitCode).not.toBe(0);
    expect(deploy.status).toBe('failed');
    for (const host of Object.values(deploy.hosts).filter((h) => h.state === 'failed')) {
      expect(host.error).toMatch(new RegExp(`^health: container [0-9a-f]{12} was not healthy within ${DEADLINE_MS / 1000} s; last verdict: Docker's check unhealthy \\(.*404.*\\); the health URL answered 404$`));
    }
    await expectNotCounted(deploy, SERVING);
  });

  it('fails an app that turns unhealthy during the soak', async () => {
    const { exitCode, deploy } = await fleet.deploy('web', 'production', 'flaky');
    expect(exitCode).not.toBe(0);
    expect(deploy.status).toBe('failed');
    for (const host of Object.values(deploy.hosts).filter((h) => h.state === 'failed')) {
      expect(host.error).toMatch(/^health: container [0-9a-f]{12} turned unhealthy during the soak after \d+\.\d s: the health URL failed \d+ times in a row: answered 404$/);
    }
    await expectNotCounted(deploy, SERVING);
  });
}
