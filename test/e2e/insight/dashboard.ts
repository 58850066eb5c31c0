// The dashboard in real Chromium (Debian's, driven by playwright-core) on the insight
// cluster: a person signs in with an operator token (kept where page scripts cannot read it,
// never in a URL), sees the fleet, watches a deploy started from the CLI move lane by lane
// until every host shows `succeeded`, marks a release broken and rolls back with the keyboard
// alone, and a viewer finds no action that works. Screenshots of the deploy page and the
// overview are kept in test-artifacts/. The releases are this part's own tags (v1's and v2's
// images), so other parts' deploys and marks change nothing it sees; it ends with production
// rolled back to its good tag.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../dev-cluster/sample-app.js';
import type { Deploy, Release } from '../../../shared/contract/schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts');
/** The live tag (v1's image), and the one marked broken from the page (v2's image). */
const LIVE_TAG = 'dash-live';
const BROKEN_TAG = 'dash-broken';
/** A 3-host deploy takes about 10 s here; this bounds a slow machine's. */
const DEPLOY_TIMEOUT_MS = 120_000;
/** The keyboard walk through a page stops after this many Tabs. */
const MAX_TABS = 60;
/** Steps between taking a slot and letting it go: what a host is doing while the deploy runs. */
const INTERMEDIATE_STEPS = ['slot', 'before-drain', 'drain', 'pull', 'up', 'health', 'after-up', 'register', 'after-register'];

/**
 * Run in the page before its own script: records every change that script makes to the
 * deploy's live part (the lanes' host, state and step, and the deploy's status then).
 */
const RECORD_LIVE_CHANGES = `
window.laneSnapshots = [];
document.addEventListener('DOMContentLoaded', () => {
  const live = document.getElementById('deploy-live');
  if (!live) return;
  new MutationObserver(() => {
    window.laneSnapshots.push({
      status: document.querySelector('[data-deploy-status]')?.getAttribute('data-deploy-status') ?? null,
      lanes: [...document.querySelectorAll('.lane')].map((lane) => ({
        host: lane.getAttribute('data-host'),
        state: lane.getAttribute('data-state'),
        step: lane.getAttribute('data-step'),
      })),
    });
  }).observe(live, { childList: true, subtree: true });
});
`;

interface LaneSnapshot {
  status: string | null;
  lanes: Array<{ host: string; state: string; step: string }>;
}

export function dashboardChecks(cluster: () => TestCluster): void {
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const tokens = { operator: '', viewer: '' };
  /** Every URL the browsers asked for: none may carry a token. */
  const requested: string[] = [];
  let brokenDeploy: Deploy | undefined;

  const url = (path: string) => `${cluster().state().coordinatorUrl}${path}`;

  async function token(scope: 'operator' | 'viewer'): Promise<string> {
    const created = await cluster().cli(['token', 'create', '--scope', scope, '--name', `dash-${scope}`]);
    expect(created.exitCode, created.stderr).toBe(0);
    return created.stdout.trim();
  }

  async function publish(tag: string, imageTag: string): Promise<void> {
    const published = await cluster().cli(['release', 'publish', 'web', tag, '--image', `${cluster().state().registry}/web:${imageTag}`]);
    expect(published.exitCode, published.stderr).toBe(0);
  }

  async function releaseOf(tag: string): Promise<Release | undefined> {
    const listed = await cluster().cli(['--json', 'release', 'list', 'web']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    return (JSON.parse(listed.stdout) as Release[]).find((release) => release.tag === tag);
  }

  /** A fresh browser window of 1280 × 900, signed in through the form with `secret`. */
  async function signedIn(secret: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    context.on('request', (request) => void requested.push(request.url()));
    const page = await context.newPage();
    await page.goto(url('/ui'));
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.getByLabel('Token').fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(url('/ui'));
    return page;
  }

  /** Presses Tab until the focused element matches `expression` (run in the page); fails after MAX_TABS. */
  async function tabTo(page: Page, what: string, expression: string): Promise<number> {
    for (let presses = 1; presses <= MAX_TABS; presses++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(expression)) === true) return presses;
    }
    throw new Error(`${what} was not reached in ${MAX_TABS} Tabs`);
  }

  /** No part of the page reaches past the window's 1280 px. */
  async function fitsWidth(page: Page): Promise<void> {
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1280);
  }

  async function waitForStatus(page: Page, status: string): Promise<void> {
    await page.waitForSelector(`[data-deploy-status="${status}"]`, { timeout: DEPLOY_TIMEOUT_MS });
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: provisioning/install-test-tools.sh (run by npm test's pretest) installs Debian's chromium`);
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM });
    tokens.operator = await token('operator');
    tokens.viewer = await token('viewer');
    await publish(LIVE_TAG, 'v1');
    await publish(BROKEN_TAG, 'v2');
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    for (const secret of [tokens.operator, tokens.viewer].filter(Boolean)) {
      expect(requested.filter((address) => address.includes(secret) || address.includes(encodeURIComponent(secret)))).toEqual([]);
    }
  });

  it('signs in with a token the page cannot read, and shows the fleet', async () => {
    const page = await signedIn(tokens.operator);
    expect(await page.evaluate('document.documentElement.lang')).toBe('en');
    expect(await page.evaluate('document.cookie')).not.toContain(tokens.operator);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Fleet');
    expect(await page.getByText(/^Signed in as/).textContent()).toMatch(/^Signed in as operator dash-operator \(t-[a-f0-9]+\)$/);
    const production = page.locator('[data-group="web/production"]');
    expect(await production.getByRole('heading').textContent()).toBe('web in production');
    expect((await production.locator('tbody th').allTextContents()).map((text) => text.split(' ')[0])).toEqual(cluster().hostsOf('production'));
    // Health reads as a symbol and a word, whatever another part left the hosts doing.
    for (const health of await production.locator('tbody td:nth-child(2)').allInnerTexts()) expect(health).toMatch(/^✓ alive/);
    await fitsWidth(page);
  });

  it('shows a deploy started from the CLI live, lane by lane, until every host shows succeeded', async () => {
    const page = await signedIn(tokens.operator);
    // Every change the page's own script makes to the live part is recorded, with the deploy's status then.
    await page.addInitScript({ content: RECORD_LIVE_CHANGES });

    const started = await cluster().cli(['--json', 'deploy', 'web', '--env', 'production', '--tag', LIVE_TAG]);
    expect(started.exitCode, started.stderr).toBe(0);
    const { id } = JSON.parse(started.stdout) as Deploy;
    const openedAt = Date.now();
    await page.goto(url(`/ui/deploys/${id}`));
    console.log(`[dashboard] the page of ${id} loaded ${Date.now() - openedAt} ms after the CLI created it`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`Deploy ${id}`);

    await waitForStatus(page, 'succeeded');
    const snapshots = (await page.evaluate('window.laneSnapshots')) as LaneSnapshot[];
    const midway = snapshots.filter((snapshot) => snapshot.status === 'in_progress' && snapshot.lanes.some((lane) => INTERMEDIATE_STEPS.includes(lane.step)));
    console.log(`[dashboard] the page redrew its live part ${snapshots.length} times during ${id}; ${midway.length} of them showed a host between its slot and its release`);
    expect(midway.length, 'a lane seen mid-deploy, drawn by the page itself').toBeGreaterThan(0);

    const hosts = cluster().hostsOf('production');
    const lanes = page.locator('.lane');
    expect(await lanes.evaluateAll((all) => all.map((lane) => [lane.getAttribute('data-host'), lane.getAttribute('data-state')]))).toEqual(hosts.map((host) => [host, 'succeeded']));
    expect(await page.locator('.lane-state .state').allTextContents()).toEqual(hosts.map(() => '✓ succeeded'));
    expect(await page.locator('[data-deploy-status]').textContent()).toBe('✓ succeeded');
    expect(await page.locator('[data-wave]').count()).toBeGreaterThan(0);

    const shown = await cluster().cli(['--json', 'status', id]);
    const deploy = JSON.parse(shown.stdout) as Deploy;
    expect(deploy.status).toBe('succeeded');
    expect(Object.keys(deploy.hosts).sort()).toEqual(hosts);
    await fitsWidth(page);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-deploy.png'), fullPage: true });
  });

  it('lets an operator mark a release broken and roll back with the keyboard alone', async () => {
    const deployed = await cluster().deploy('web', 'production', BROKEN_TAG);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    brokenDeploy = deployed.deploy;
    const page = await signedIn(tokens.operator);
    await page.goto(url(`/ui/deploys/${brokenDeploy.id}`));

    const tabs = await tabTo(page, 'the reason field', "document.activeElement?.id === 'broken-reason'");
    await page.keyboard.type('checkout fails on the new image');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe(`Mark web:${BROKEN_TAG} broken`);
    await Promise.all([page.waitForURL(/\?done=mark-broken$/), page.keyboard.press('Enter')]);
    console.log(`[dashboard] the reason field was reached in ${tabs} Tabs`);

    const broken = (await releaseOf(BROKEN_TAG))?.broken;
    expect(broken?.reason).toBe('checkout fails on the new image');
    expect(broken?.by).toMatch(/^operator dash-operator \(t-[a-f0-9]+\)$/);
    expect(await page.getByRole('status').first().textContent()).toContain('The release is marked broken');

    // Back to the good tag, from the same page, by keyboard.
    await page.goto(url(`/ui/deploys/${brokenDeploy.id}`));
    await tabTo(page, 'the rollback button', "document.activeElement?.textContent === 'Roll back web in production'");
    await Promise.all([page.waitForURL(/\/ui\/deploys\/d-[a-z0-9]+\?done=rollback$/), page.keyboard.press('Enter')]);
    await waitForStatus(page, 'succeeded');
    const rollbackId = /\/ui\/deploys\/(d-[a-z0-9]+)/.exec(page.url())?.[1] ?? '';
    const rollback = JSON.parse((await cluster().cli(['--json', 'status', rollbackId])).stdout) as Deploy;
    expect(rollback).toMatchObject({ status: 'succeeded', tag: LIVE_TAG, rollbackOf: BROKEN_TAG, startedBy: expect.stringMatching(/^operator dash-operator /) });
    expect(await cluster().lbAnswers(9)).toEqual(new Set(cluster().hostsOf('production').map((host) => `200 v1 ${host}`)));

    // The overview after it all: hosts back on the good tag, the broken mark with who set it and why.
    await page.goto(url('/ui'));
    const row = page.locator(`[data-releases="web"] [data-release="${BROKEN_TAG}"]`);
    expect(await row.locator('td').last().innerText()).toMatch(new RegExp(`^✗ broken: checkout fails on the new image\\nby operator dash-operator \\(t-[a-f0-9]+\\), `));
    await fitsWidth(page);
    const production = page.locator('[data-group="web/production"]');
    expect(await production.locator('p').first().innerText()).toBe(`Desired tag: ${LIVE_TAG}`);
    expect(await production.locator('tbody td:nth-child(3)').allInnerTexts()).toEqual(cluster().hostsOf('production').map(() => LIVE_TAG));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-overview.png'), fullPage: true });
  });

  it('shows a viewer no action that works', async () => {
    const page = await signedIn(tokens.viewer);
    const target = brokenDeploy?.id;
    if (!target) throw new Error('no deploy from the operator\'s check');
    await page.goto(url(`/ui/deploys/${target}`));
    expect(await page.getByRole('button').allTextContents()).toEqual(['Sign out']);
    expect(await page.locator('[data-refused="mark-broken"]').textContent()).toMatch(/^Marking a release broken needs the operator scope; you are signed in as viewer dash-viewer \(t-[a-f0-9]+\)\.$/);
    expect(await page.locator('[data-refused="rollback"]').textContent()).toContain('Rolling back needs the deployer scope');

    // A post made by hand with the viewer's session (and its form token) is refused by the API.
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const before = (await cluster().cli(['--json', 'status'])).stdout;
    const forged = await page.request.post(url(`/ui/deploys/${target}/rollback`), { form: { csrf }, headers: { origin: new URL(url('/')).origin }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('Nothing was done: POST /v1/rollbacks needs the deployer scope');
    expect((await cluster().cli(['--json', 'status'])).stdout).toBe(before);
  });
}
