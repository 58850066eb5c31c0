// Releases pinned to digests (README, "Security"): a tag pushed again with other content after
// it was published changes nothing hosts run, and an image of a registry the coordinator does
// not list is refused at publish.
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import type { Release } from '../../../shared/contract/schemas.js';
import { answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { pushedDigest } from '../../fixtures/registry-images.js';

const DOCKER_TIMEOUT_MS = 120_000;
/** A tag of this part's own, published from the sample app's v1 and then pushed again as its v2. */
const TAG = 'pinned';

const docker = async (...args: string[]) => (await execa('docker', args, { stdin: 'ignore', timeout: DOCKER_TIMEOUT_MS })).stdout.trim();

export function digestChecks(cluster: () => TestCluster): void {
  const moved: string[] = [];
  afterAll(async () => {
    // Only the local tag goes: the sample app's images stay.
    for (const image of moved) await execa('docker', ['image', 'rm', image], { stdin: 'ignore', reject: false });
  });

  it('hosts run the digest published, not what the tag was pushed as since', async () => {
    const fleet = cluster();
    const repository = `${fleet.cluster.state.registry}/web`;
    const image = `${repository}:${TAG}`;
    moved.push(image);
    await docker('tag', `${repository}:v1`, image);
    await docker('push', '--quiet', image);
    const v1Digest = await pushedDigest(image);

    const published = await fleet.cli(['release', 'publish', 'web', TAG]);
    expect(published.exitCode, published.stderr).toBe(0);
    const pinned = `${repository}@${v1Digest}`;
    expect(published.stdout).toBe(`published web:${TAG} as ${pinned} (from ${image})`);

    // The tag now names the sample app's v2 in the registry.
    await docker('tag', `${repository}:v2`, image);
    await docker('push', '--quiet', image);
    expect(await pushedDigest(image)).not.toBe(v1Digest);
    const republished = await fleet.cli(['release', 'publish', 'web', TAG, '--json']);
    expect(republished.exitCode, republished.stderr).toBe(0);
    expect((JSON.parse(republished.stdout) as Release).digest).toBe(v1Digest);

    const deployed = await fleet.deploy('web', 'production', TAG);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    expect(deployed.deploy.image).toBe(pinned);

    const v1Id = await docker('image', 'inspect', '--format', '{{.Id}}', `${repository}:v1`);
    for (const host of fleet.state().hosts.filter((h) => h.env === 'production')) {
      const running = await docker('inspect', '--format', '{{.Config.Image}} {{.Image}}', `${host.project}-app-1`);
      expect(running, host.name).toBe(`${pinned} ${v1Id}`);
    }
    // The sample app says its version: every host answers with v1's, the content published.
    expect(await fleet.lbAnswers(12)).toEqual(answersFrom('v1', fleet.hostsOf('production')));

    const status = await fleet.cli(['status', deployed.deploy.id]);
    expect(status.stdout).toContain(`image        ${pinned}`);
    const list = await fleet.cli(['release', 'list', 'web']);
    expect(list.stdout).toMatch(new RegExp(`^${TAG} +${pinned.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  from ${image}$`, 'm'));
  });

  it('refuses with exit 2 an image of a registry the coordinator does not list, and records nothing', async () => {
    const fleet = cluster();
    const { registry } = fleet.cluster.state;
    for (const image of ['evil.example.com/web:v1', 'web:v1']) {
      const refused = await fleet.cli(['release', 'publish', 'web', 'outside', '--image', image]);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain(`image ${image} is not from an allowed registry`);
      expect(refused.stderr).toContain(`images may come from: ${registry}`);
    }
    const list = await fleet.cli(['release', 'list', 'web', '--json']);
    expect((JSON.parse(list.stdout) as Release[]).map((release) => release.tag)).not.toContain('outside');
  });
}
