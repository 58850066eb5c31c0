// The dashboard as a browser meets it, on the coordinator's app over an in-memory store: sign
// in with a token (kept in an HttpOnly, SameSite=Strict cookie, never in a URL), the pages'
// security headers, what the overview and a deploy's page show, escaping of everyone's words,
// and the two actions, which only an operator (mark broken) or deployer (roll back) has and
// which need the page's CSRF token. The same in Chromium: test/e2e/insight/dashboard.ts.
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deploy } from '../../shared/contract/schemas.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { InMemoryEventLog } from '../fixtures/in-memory-event-log.js';

let coordinator: CoordinatorHarness;
let fleet: RecordingFleet;
let store: InMemoryDeployStore;

beforeEach(() => {
  fleet = new RecordingFleet();
  store = new InMemoryDeployStore();
  coordinator = new CoordinatorHarness({ store, fleet, eventLog: { log: new InMemoryEventLog() } });
});

interface Page {
  status: number;
  headers: Headers;
  body: string;
}

/** One person's browser: its cookie, sent with every request as a browser would (same site). */
class Browser {
  cookie: string | undefined;

  async get(path: string): Promise<Page> {
    return this.#send(path, { method: 'GET' });
  }

  /** A form post as the browser sends it, with the Origin of the page's site unless given. */
  async post(path: string, form: Record<string, string>, origin: string | null = 'http://localhost'): Promise<Page> {
    return this.#send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin === null ? {} : { origin }) },
      body: new URLSearchParams(form).toString(),
    });
  }

  async signIn(token: string): Promise<Page> {
    return this.post('/ui/login', { token, next: '/ui' });
  }

  /** The CSRF token of the sign-out form every signed-in page carries. */
  async csrf(): Promise<string> {
    const page = await this.get('/ui');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (!csrf) throw new Error(`no CSRF token on /ui (status ${page.status})`);
    return csrf;
  }

  async #send(path: string, init: RequestInit): Promise<Page> {
    const headers = new Headers(init.headers);
    if (this.cookie !== undefined) headers.set('cookie', this.cookie);
    const response = await coordinator.app.request(path, { ...init, headers });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) {
      const [pair = ''] = setCookie.split(';');
      this.cookie = /Max-Age=0/i.test(setCookie) || pair.endsWith('=') ? undefined : pair;
    }
    return { status: response.status, headers: response.headers, body: await response.text() };
  }
}

async function signedIn(scope: 'viewer' | 'deployer' | 'operator'): Promise<Browser> {
  const browser = new Browser();
  const answer = await browser.signIn(scope === 'operator' ? await coordinator.tokenOf('operator', 'ops-anna') : await coordinator.tokenOf(scope));
  expect(answer.status).toBe(303);
  return browser;
}

/** web:v1 succeeded on h1-h3 in production, web:v2 deploying with h1 failed (an error with markup in it), h2 working, h3 waiting. */
async function rollout(): Promise<{ good: Deploy; current: Deploy }> {
  await coordinator.publish('web', 'v1');
  await coordinator.publish('web', 'v2');
  const good = await coordinator.deploy('web', 'production', 'v1');
  await coordinator.succeedEverywhere(good);
  const current = await coordinator.deploy('web', 'production', 'v2');
  const at = coordinator.clock;
  await coordinator.report(current.id, 'h2', 'deploying', { counted: 3, slot: 1, epoch: 4, steps: [{ step: 'received', at }, { step: 'slot', at: at + 100 }, { step: 'pull', at: at + 400 }] });
  await coordinator.report(current.id, 'h3', 'waiting', { counted: 3, steps: [{ step: 'received', at }, { step: 'waiting', at: at + 50 }] });
  return { good, current };
}

describe('signing in', () => {
  it('sends a person without a sign-in to the sign-in page, remembering where they were going', async () => {
    const browser = new Browser();
    const overview = await browser.get('/ui');
    expect(overview.status).toBe(303);
    expect(overview.headers.get('location')).toBe('/ui/login?next=%2Fui');
    expect((await browser.get('/ui/deploys/d-abcdef1')).headers.get('location')).toBe('/ui/login?next=%2Fui%2Fdeploys%2Fd-abcdef1');
    // A live part answers 401 for the page's script instead.
    expect((await browser.get('/ui/live/overview')).status).toBe(401);

    const login = await browser.get('/ui/login?next=%2Fui%2Fdeploys%2Fd-abcdef1');
    expect(login.body).toContain('<html lang="en">');
    expect(login.body).toContain('<label for="token">Token</label>');
    expect(login.body).toContain('<input type="password" id="token" name="token" required');
    expect(login.body).toContain('<input type="hidden" name="next" value="/ui/deploys/d-abcdef1">');
  });

  it('keeps the token in an HttpOnly, SameSite=Strict cookie for 12 hours, and never puts it in a URL', async () => {
    const token = await coordinator.tokenOf('viewer', 'vera');
    const browser = new Browser();
    const answer = await browser.post('/ui/login', { token, next: '/ui/deploys/d-abcdef1' });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/ui/deploys/d-abcdef1');
    expect(answer.headers.get('set-cookie')).toBe(`gv_session=${token}; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict`);
    const overview = await browser.get('/ui');
    expect(overview.status).toBe(200);
    expect(overview.body).toMatch(/Signed in as <strong>viewer vera \(t-[a-f0-9]+\)<\/strong>/);
    expect(overview.body).not.toContain(token);
  });

  it.each([
    ['', 400, 'Paste a token to sign in.'],
    ['gv_not-a-real-token', 401, 'That token is unknown, revoked or expired.'],
  ])('refuses the token %j with %i and says why', async (token, status, message) => {
    const browser = new Browser();
    const answer = await browser.signIn(token);
    expect(answer.status).toBe(status);
    expect(answer.body).toContain(message);
    expect(browser.cookie).toBeUndefined();
  });

  it('refuses a host credential, a flags-reader credential, and a sign-in form posted from another site', async () => {
    const host = await new Browser().signIn(await coordinator.hostToken('h1'));
    expect(host.status).toBe(403);
    expect(host.body).toContain('Host credentials are for agents. Sign in with a viewer, deployer or operator token.');
    const reader = await new Browser().signIn(await coordinator.tokenOf('flags-reader', 'web-app'));
    expect(reader.status).toBe(403);
    expect(reader.body).toContain('Flags-reader credentials are for applications reading flags. Sign in with a viewer, deployer or operator token.');
    const foreign = await new Browser().post('/ui/login', { token: TOKEN, next: '/ui' }, 'https://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('The sign-in form was sent from another site (https://evil.example).');
  });

  it('sends a person back only to a dashboard page, never to another site', async () => {
    for (const next of ['https://evil.example/ui', '//evil.example', '/v1/tokens', '/ui/../v1']) {
      const answer = await new Browser().post('/ui/login', { token: TOKEN, next });
      expect(answer.headers.get('location'), next).toBe('/ui');
    }
  });

  it('ends a sign-in whose token was revoked, with a clear message, and signs out on request', async () => {
    const created = await coordinator.credentials.create({ scope: 'viewer', name: 'leaver', createdBy: 'test' });
    const browser = new Browser();
    await browser.signIn(created.token);
    const csrf = await browser.csrf();
    await coordinator.credentials.revoke(created.credential.id);
    const refused = await browser.get('/ui');
    expect(refused.status).toBe(303);
    expect(refused.headers.get('location')).toBe('/ui/login?next=%2Fui&expired=1');
    expect(browser.cookie).toBeUndefined();
    expect((await browser.get('/ui/login?expired=1')).body).toContain('Your sign-in is no longer accepted: its token is unknown, revoked or expired. Sign in again.');

    const again = await signedIn('viewer');
    const out = await again.post('/ui/logout', { csrf: await again.csrf() });
    expect(out.headers.get('location')).toBe('/ui/login?signed-out=1');
    expect(again.cookie).toBeUndefined();
    expect(csrf).not.toBe('');
  });
});

describe('every dashboard page', () => {
  it('forbids inline script and style and framing, and carries none itself', async () => {
    await rollout();
    const browser = await signedIn('operator');
    const { current } = { current: (await coordinator.call('GET', '/v1/deploys')).body.deploys[0] as Deploy };
    for (const path of ['/ui', `/ui/deploys/${current.id}`, '/ui/login', '/ui/nowhere']) {
      const page = await browser.get(path);
      const policy = page.headers.get('content-security-policy') ?? '';
      expect(policy, path).toContain("script-src 'self'");
      expect(policy, path).toContain("style-src 'self'");
      expect(policy, path).toContain("frame-ancestors 'none'");
      expect(policy, path).not.toContain('unsafe-inline');
      expect(page.headers.get('x-frame-options'), path).toBe('DENY');
      expect(page.body, path).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/);
    }
    expect((await browser.get('/ui/')).headers.get('location')).toBe('/ui');
    const script = await browser.get('/ui/assets/dashboard.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.body).toContain('new EventSource(url)');
  });
});

describe('a page that cannot be read', () => {
  it('says what does not answer, in a page', async () => {
    const browser = await signedIn('viewer');
    store.unreachable('Redis did not answer (connect ECONNREFUSED 127.0.0.1:6379)');
    const page = await browser.get('/ui');
    expect(page.status).toBe(502);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.body).toContain('The page could not be made: Redis did not answer (connect ECONNREFUSED 127.0.0.1:6379)');
  });
});

describe('the overview', () => {
  it('shows each group with its hosts, what they run, the desired tag, health, recent deploys and releases with their marks', async () => {
    const { good, current } = await rollout();
    coordinator.members.setStatus('h3', 'failed');
    fleet.outOfService.add('web/production/h2');
    await coordinator.call('POST', '/v1/releases/web/v2/broken', { reason: 'leaks <img src=x onerror=alert(1)> memory' });
    const page = await (await signedIn('viewer')).get('/ui');
    expect(page.status).toBe(200);

    const production = page.body.slice(page.body.indexOf('data-group="web/production"'), page.body.indexOf('data-group="web/staging"'));
    expect(production).toContain('<h3 id="group-web-production">web in production</h3>');
    // v2 is marked broken below: where it is desired, it says so.
    expect(production).toContain('Desired tag: <strong class="mono">v2</strong> <span class="broken"><span aria-hidden="true">✗</span> broken</span>');
    expect(production).toMatch(new RegExp(`data-host="h1">[\\s\\S]*✓</span> alive[\\s\\S]*href="/ui/deploys/${good.id}">v1</a> <span class="state health-out"><span aria-hidden="true">≠</span> not the desired tag`));
    expect(production).toMatch(/data-host="h2">[\s\S]*out of service/);
    expect(production).toMatch(/data-host="h3">[\s\S]*✗<\/span> failed/);

    expect(page.body).toMatch(new RegExp(`data-deploy="${current.id}">[\\s\\S]*?<td class="mono">v2</td>[\\s\\S]*?▶</span> in progress[\\s\\S]*?operator bootstrap \\(config\\)`));
    expect(page.body).toMatch(new RegExp(`data-deploy="${good.id}">[\\s\\S]*?✓</span> succeeded`));
    // The reason, as anyone typed it, escaped; who marked it.
    expect(page.body).toContain('data-broken="true"><span aria-hidden="true">✗</span> broken</span>: <span class="error-text">leaks &lt;img src=x onerror=alert(1)&gt; memory</span><br><small>by operator bootstrap (config),');
    expect(page.body).not.toContain('<img src=x');
    expect(page.body).toMatch(/data-release="v1">[\s\S]*?✓<\/span> deployable/);
    // Its live part follows the whole fleet's events from where the page was read.
    expect(page.body).toMatch(/<body data-events="\/v1\/events\?since=\d+-0">/);
  });

  it('says when Serf cannot be asked, and still shows the rest', async () => {
    await rollout();
    coordinator.members.failWith = 'serf agent not running';
    const page = await (await signedIn('viewer')).get('/ui');
    expect(page.status).toBe(200);
    expect(page.body).toContain("Serf's member list could not be read, so hosts are missing below: serf agent not running");
    expect(page.body).toContain('Desired tag: <strong class="mono">v2</strong>');
  });

  it("marks a frozen group with who froze it, until when and why (escaped), and no other group", async () => {
    await rollout();
    await coordinator.call('POST', '/v1/groups/web/production/freeze', { reason: 'release <b>train</b>' });
    const page = await (await signedIn('viewer')).get('/ui');
    const production = page.body.slice(page.body.indexOf('data-group="web/production"'), page.body.indexOf('data-group="web/staging"'));
    expect(production).toContain(
      '<p class="frozen" data-frozen="true"><strong>❄ Frozen</strong> by operator bootstrap (config), until unfrozen: release &lt;b&gt;train&lt;/b&gt;. Waiting hosts take no slot; new deploys are refused unless forced.</p>',
    );
    expect(page.body.slice(page.body.indexOf('data-group="web/staging"'))).not.toContain('data-frozen');
    await coordinator.call('DELETE', '/v1/groups/web/production/freeze');
    expect((await (await signedIn('viewer')).get('/ui')).body).not.toContain('data-frozen');
  });
});

describe("a deploy's page", () => {
  it('shows one lane per target with its steps, the waves, waiting and working time, and hosts\' errors escaped', async () => {
    const { current } = await rollout();
    const at = coordinator.clock;
    await coordinator.report(current.id, 'h1', 'failed', {
      counted: 3, slot: 2, epoch: 5, error: 'health: <script>alert(1)</script>', endedAt: at + 900,
      steps: [{ step: 'received', at }, { step: 'slot', at: at + 150 }, { step: 'up', at: at + 300 }, { step: 'health', at: at + 500 }],
    });
    const page = await (await signedIn('viewer')).get(`/ui/deploys/${current.id}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`<body data-events="/v1/events?deploy=${current.id}&amp;since=`);
    expect(page.body).toContain(`data-live-url="/ui/deploys/${current.id}/live"`);
    expect(page.body).toMatch(/data-deploy-status="in_progress"><span class="state status-in_progress" data-status="in_progress"><span aria-hidden="true">▶<\/span> in progress/);
    expect(page.body).toMatch(/class="lane" data-host="h1" data-state="failed" data-step="health"/);
    expect(page.body).toMatch(/class="lane" data-host="h2" data-state="deploying" data-step="pull"/);
    expect(page.body).toMatch(/class="lane" data-host="h3" data-state="waiting" data-step="waiting"/);
    expect(page.body).toMatch(/<rect class="seg-pull" x="[\d.]+" y="3" width="[\d.]+" height="14" data-step="pull"><title>h2 pull: /);
    // h2 and h1 took their slots before either let one go: one wave.
    expect(page.body).toMatch(/data-wave="1"><th scope="row">1<\/th><td>h1, h2<\/td>/);
    expect(page.body).toContain('<span class="error-text">health: &lt;script&gt;alert(1)&lt;/script&gt;</span>');
    expect(page.body).not.toContain('<script>alert');
    expect(page.body).toMatch(/<tfoot><tr><th scope="row">All hosts<\/th><td colspan="4"><\/td><td class="num">[^<]+<\/td><td class="num">[^<]+<\/td>/);

    const live = await (await signedIn('viewer')).get(`/ui/deploys/${current.id}/live`);
    expect(live.status).toBe(200);
    expect(live.body).toMatch(/^<section aria-labelledby="outcome-heading">/);
    expect(live.body).not.toContain('<html');
  });

  it('gives a viewer no action, saying which scope each needs, and refuses a viewer\'s post through the API', async () => {
    const { current } = await rollout();
    const viewer = await signedIn('viewer');
    const page = await viewer.get(`/ui/deploys/${current.id}`);
    expect(page.body).not.toContain('/mark-broken"');
    expect(page.body).not.toContain('/rollback"');
    expect(page.body).toMatch(/Marking a release broken needs the operator scope; you are signed in as viewer someone \(t-[a-f0-9]+\)\./);
    expect(page.body).toMatch(/Rolling back needs the deployer scope; you are signed in as viewer someone/);

    const forged = await viewer.post(`/ui/deploys/${current.id}/mark-broken`, { reason: 'nope', csrf: await viewer.csrf() });
    expect(forged.status).toBe(403);
    expect(forged.body).toContain('Nothing was done: POST /v1/releases/web/v2/broken needs the operator scope; this credential (viewer someone) is viewer');
    expect((await coordinator.store.getRelease('web', 'v2'))?.broken).toBeUndefined();
  });

  it('lets an operator mark the release broken with a reason, recorded as that operator', async () => {
    const { current } = await rollout();
    const operator = await signedIn('operator');
    const page = await operator.get(`/ui/deploys/${current.id}`);
    expect(page.body).toContain('<label for="broken-reason">Reason (kept with the mark, shown to everyone)</label>');
    const csrf = /action="\/ui\/deploys\/[^/]+\/mark-broken">[\s\S]*?name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';

    const done = await operator.post(`/ui/deploys/${current.id}/mark-broken`, { reason: 'pages time out', csrf });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`/ui/deploys/${current.id}?done=mark-broken`);
    const broken = (await coordinator.store.getRelease('web', 'v2'))?.broken;
    expect(broken).toMatchObject({ reason: 'pages time out', by: expect.stringMatching(/^operator ops-anna \(t-[a-f0-9]+\)$/) });
    expect(coordinator.published.filter((event) => event.kind === 'release.broken')).toHaveLength(1);

    const after = await operator.get(done.headers.get('location')!);
    expect(after.body).toContain('The release is marked broken: hosts still waiting stand down, and it cannot be deployed again.');
    expect(after.body).toMatch(/marked broken<\/span> by operator ops-anna \(t-[a-f0-9]+\), <time[^>]*>[^<]*<\/time>: <span class="error-text">pages time out<\/span>/);
    expect(after.body).not.toContain('/mark-broken"');
  });

  it('refuses a form without the page\'s CSRF token or from another site, doing nothing', async () => {
    const { current } = await rollout();
    const operator = await signedIn('operator');
    const csrf = await operator.csrf();
    const missing = await operator.post(`/ui/deploys/${current.id}/mark-broken`, { reason: 'x' });
    expect(missing.status).toBe(403);
    expect(missing.body).toContain('Nothing was done: the form is out of date or was not sent from this dashboard: reload the page and try again.');
    const foreign = await operator.post(`/ui/deploys/${current.id}/rollback`, { csrf }, 'https://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('Nothing was done: the form was sent from another site (https://evil.example).');
    expect((await coordinator.store.getRelease('web', 'v2'))?.broken).toBeUndefined();
    expect((await coordinator.call('GET', '/v1/deploys')).body.deploys).toHaveLength(2);
  });

  it('lets a deployer roll back, and shows the rollback\'s own page; shows the API\'s refusal with the typed reason kept', async () => {
    const { current } = await rollout();
    const deployer = await signedIn('deployer');
    const csrf = await deployer.csrf();
    const done = await deployer.post(`/ui/deploys/${current.id}/rollback`, { csrf });
    expect(done.status).toBe(303);
    const rollbackId = /^\/ui\/deploys\/(d-[a-z0-9]+)\?done=rollback$/.exec(done.headers.get('location') ?? '')?.[1];
    expect(rollbackId).toBeDefined();
    const rollback = await coordinator.getDeploy(rollbackId!);
    expect(rollback).toMatchObject({ tag: 'v1', rollbackOf: 'v2', startedBy: expect.stringMatching(/^deployer ci /) });
    expect((await deployer.get(done.headers.get('location')!)).body).toContain('Rollback started: this is its deploy.');

    const operator = await signedIn('operator');
    const refused = await operator.post(`/ui/deploys/${current.id}/mark-broken`, { reason: 'x'.repeat(2001), csrf: await operator.csrf() });
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('Nothing was done: invalid body: reason');
    expect(refused.body).toContain(`value="${'x'.repeat(2001)}"`);
  });

  it('answers an unknown deploy with a page that says so', async () => {
    const browser = await signedIn('viewer');
    const unknown = await browser.get('/ui/deploys/d-unknown1');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('There is no deploy d-unknown1.');
    expect((await browser.get('/ui/deploys/%3Cscript%3E')).body).toContain('There is no deploy &lt;script&gt;');
  });
});
