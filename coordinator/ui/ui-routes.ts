// The dashboard, served by the coordinator under /ui: the overview, a deploy's page (the
// path notifications link to), their live parts, sign-in and sign-out, and two actions that
// go through the API's own routes with the signed-in credential, so they are checked,
// recorded and published exactly as the CLI's are. Every page is sent with a
// Content-Security-Policy that allows no inline script or style and no framing.
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { GrapevineError, errorMessage } from '../../shared/contract/errors.js';
import type { Logger } from '../../shared/contract/logger.js';
import { deployId } from '../../shared/contract/names.js';
import { actorOf, type Credential } from '../../shared/ports/credentials.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import type { FleetControl } from '../../shared/ports/fleet-state.js';
import type { Membership } from '../../shared/ports/membership.js';
import { credentialFor, type CoordinatorEnv, type TokenCheck } from '../auth/authenticate.js';
import { registerAssetRoutes } from './assets/asset-routes.js';
import { readDeployForPage } from './deploy-read.js';
import { deployLive, deployMain, type DeployPageView } from './deploy-page.js';
import { readFleetOverview } from './fleet-overview.js';
import { html } from './html.js';
import { loginMain } from './login-page.js';
import { overviewLive, overviewMain } from './overview-page.js';
import { pageShell, type Viewer } from './page-shell.js';
import { CSRF_FIELD, csrfTokenFor, endSession, foreignOrigin, formRefusal, sessionToken, startSession } from './session.js';

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');
/** A form post is a token or a reason: anything bigger is not one of ours. */
const MAX_FORM_BYTES = 16 * 1024;
/** Where sign-in may send a person back to: a dashboard path, never another site. */
const NEXT_PATH = /^\/ui(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export interface UiRouteDeps {
  store: DeployStore;
  membership: Membership;
  fleet: FleetControl;
  tokens: TokenCheck;
  logger: Logger;
  now: () => number;
  /** The event stream's newest id, which a page's live updates start after; no live updates without it. */
  newestEventId?: () => Promise<string>;
}

interface Session {
  token: string;
  credential: Credential;
  viewer: Viewer;
}

/** Mounts the dashboard on `app`; its actions call `app`'s own API routes. */
export function registerUiRoutes(app: Hono<CoordinatorEnv>, deps: UiRouteDeps): void {
  const { store, logger, now } = deps;
  const log = logger.child({ component: 'dashboard' });
  const ui = new Hono<CoordinatorEnv>();

  ui.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
    // Not no-referrer: under it a browser sends `Origin: null` with the pages' own forms, which the form checks refuse.
    c.header('Referrer-Policy', 'same-origin');
    if (!c.req.path.startsWith('/ui/assets/')) c.header('Cache-Control', 'no-store');
  });
  ui.use('*', bodyLimit({ maxSize: MAX_FORM_BYTES, onError: (c) => c.html(errorPage('The form is too large.'), 413) }));

  // A page that cannot be read (Redis or Serf down) says so in a page, not in JSON.
  ui.onError((error, c) => {
    const status = error instanceof GrapevineError && error.code === 'unreachable' ? 502 : 500;
    log.error({ err: error, path: c.req.path }, 'dashboard page failed');
    // Grapevine's own errors say what is down; anything else stays in the log.
    const why = error instanceof GrapevineError ? errorMessage(error) : 'an internal error; see the coordinator log';
    return c.html(errorPage(`The page could not be made: ${why}`), status);
  });

  registerAssetRoutes(ui);

  /** The signed-in session, or the response that sends the person to sign in (a page) or says 401 (a live part). */
  async function session(c: Context<CoordinatorEnv>, part: boolean): Promise<Session | Response> {
    const token = sessionToken(c);
    const refuse = (why: 'expired' | 'host' | undefined) => {
      if (why !== undefined) endSession(c);
      if (part) return c.text('sign in again', 401);
      const params = new URLSearchParams({ next: c.req.path, ...(why === undefined ? {} : { [why]: '1' }) });
      return c.redirect(`/ui/login?${params.toString()}`, 303);
    };
    if (token === undefined) return refuse(undefined);
    const credential = await credentialFor(token, deps.tokens);
    if (!credential) return refuse('expired');
    // Neither a host's credential nor a flags-reader's (OFREP only) opens the dashboard.
    if (credential.scope === 'host' || credential.scope === 'flags-reader') return refuse('host');
    c.set('credential', credential);
    return { token, credential, viewer: { actor: actorOf(credential), csrf: csrfTokenFor(token) } };
  }

  const eventsUrl = async (filter: Record<string, string>) => {
    if (!deps.newestEventId) return undefined;
    return `/v1/events?${new URLSearchParams({ ...filter, since: await deps.newestEventId() }).toString()}`;
  };

  ui.get('/', async (c) => {
    const signed = await session(c, false);
    if (signed instanceof Response) return signed;
    // The stream's position first: nothing that happens while the page is read is missed.
    const events = await eventsUrl({});
    const overview = await readFleetOverview(deps);
    return c.html(pageShell({ title: 'Fleet', viewer: signed.viewer, main: overviewMain(overview, now()), ...(events === undefined ? {} : { events }) }));
  });

  ui.get('/live/overview', async (c) => {
    const signed = await session(c, true);
    if (signed instanceof Response) return signed;
    return c.html(overviewLive(await readFleetOverview(deps), now()).text);
  });

  async function deployPage(c: Context<CoordinatorEnv>, signed: Session, id: string, extra: Pick<DeployPageView, 'notice' | 'reason'> = {}, status: 200 | 400 | 403 | 404 | 409 | 413 | 502 | 503 = 200) {
    const events = await eventsUrl({ deploy: id });
    const read = await readDeployForPage(store, id, hostsCursor(c));
    if (!read) return c.html(errorPage(`There is no deploy ${id}.`, signed.viewer), 404);
    const { deploy, hosts } = read;
    const release = await store.getRelease(deploy.role, deploy.tag);
    const view: DeployPageView = { deploy, hosts, release, now: now(), scope: signed.credential.scope, actor: signed.viewer.actor, csrf: signed.viewer.csrf, ...extra };
    return c.html(pageShell({ title: `Deploy ${id}`, viewer: signed.viewer, main: deployMain(view), ...(events === undefined ? {} : { events }) }), status);
  }

  ui.get('/deploys/:id', async (c) => {
    const signed = await session(c, false);
    if (signed instanceof Response) return signed;
    const id = c.req.param('id');
    if (!deployId.safeParse(id).success) return c.html(errorPage(`There is no deploy ${id}: deploy ids look like d-<letters and digits>.`, signed.viewer), 404);
    const done = DONE_NOTICES.get(c.req.query('done') ?? '');
    return deployPage(c, signed, id, done === undefined ? {} : { notice: { kind: 'ok', text: done } });
  });

  ui.get('/deploys/:id/live', async (c) => {
    const signed = await session(c, true);
    if (signed instanceof Response) return signed;
    const id = c.req.param('id');
    // The summary and one page of reports: never the whole record on each of the deploy's events.
    const read = deployId.safeParse(id).success ? await readDeployForPage(store, id, hostsCursor(c)) : undefined;
    if (!read) return c.text(`no deploy ${id}`, 404);
    return c.html(deployLive(read.deploy, await store.getRelease(read.deploy.role, read.deploy.tag), now(), read.hosts).text);
  });

  /** Runs one API route as the signed-in credential; its answer, or its refusal shown on the deploy's page. */
  async function act(c: Context<CoordinatorEnv>, action: 'mark-broken' | 'rollback') {
    const signed = await session(c, false);
    if (signed instanceof Response) return signed;
    const id = c.req.param('id') ?? '';
    const form = await c.req.parseBody();
    const refusal = formRefusal(c, signed.token, form[CSRF_FIELD]);
    if (refusal !== undefined) {
      log.warn({ action, actor: signed.viewer.actor, refusal }, 'dashboard form refused');
      return c.html(errorPage(`Nothing was done: ${refusal}.`, signed.viewer), 403);
    }
    const deploy = deployId.safeParse(id).success ? await store.getRecord(id) : undefined;
    if (!deploy) return c.html(errorPage(`There is no deploy ${id}.`, signed.viewer), 404);
    const reason = typeof form.reason === 'string' ? form.reason.trim() : '';
    const [path, body] =
      action === 'mark-broken'
        ? [`/v1/releases/${deploy.role}/${encodeURIComponent(deploy.tag)}/broken`, { reason }]
        : ['/v1/rollbacks', { role: deploy.role, env: deploy.env }];
    const answer = await app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${signed.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const result = (await answer.json().catch(() => ({}))) as { id?: string; error?: { message?: string } };
    if (answer.ok) {
      const target = action === 'rollback' && typeof result.id === 'string' ? result.id : deploy.id;
      return c.redirect(`/ui/deploys/${target}?done=${action}`, 303);
    }
    const message = result.error?.message ?? `the coordinator answered ${answer.status}`;
    const status = ([400, 403, 404, 409, 413, 502, 503] as const).find((code) => code === answer.status) ?? 502;
    return deployPage(c, signed, deploy.id, { notice: { kind: 'error', text: `Nothing was done: ${message}` }, reason }, status);
  }

  ui.post('/deploys/:id/mark-broken', (c) => act(c, 'mark-broken'));
  ui.post('/deploys/:id/rollback', (c) => act(c, 'rollback'));

  ui.get('/login', (c) => {
    const next = safeNext(c.req.query('next'));
    const message = c.req.query('expired')
      ? { kind: 'error' as const, text: 'Your sign-in is no longer accepted: its token is unknown, revoked or expired. Sign in again.' }
      : c.req.query('host')
        ? { kind: 'error' as const, text: 'Host credentials are for agents. Sign in with a viewer, deployer or operator token.' }
        : c.req.query('signed-out')
          ? { kind: 'ok' as const, text: 'You are signed out.' }
          : undefined;
    return c.html(pageShell({ title: 'Sign in', main: loginMain({ next, ...(message ? { message } : {}) }) }));
  });

  ui.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const again = (text: string, status: 400 | 401 | 403) => c.html(pageShell({ title: 'Sign in', main: loginMain({ next, message: { kind: 'error', text } }) }), status);
    const origin = foreignOrigin(c);
    if (origin !== undefined) return again(`The sign-in form was sent from another site (${origin}).`, 403);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (token === '') return again('Paste a token to sign in.', 400);
    const credential = await credentialFor(token, deps.tokens);
    if (!credential) return again('That token is unknown, revoked or expired.', 401);
    if (credential.scope === 'host' || credential.scope === 'flags-reader') return again(`${credential.scope === 'host' ? 'Host credentials are for agents' : 'Flags-reader credentials are for applications reading flags'}. Sign in with a viewer, deployer or operator token.`, 403);
    startSession(c, token);
    log.info({ actor: actorOf(credential) }, 'signed in to the dashboard');
    return c.redirect(next, 303);
  });

  ui.post('/logout', async (c) => {
    const token = sessionToken(c);
    const form = await c.req.parseBody();
    if (token !== undefined) {
      const refusal = formRefusal(c, token, form[CSRF_FIELD]);
      if (refusal !== undefined) return c.html(errorPage(`You are still signed in: ${refusal}.`), 403);
    }
    endSession(c);
    return c.redirect('/ui/login?signed-out=1', 303);
  });

  // Last: any other /ui path gets a page too, not the API's JSON.
  ui.all('*', (c) => (c.req.path === '/ui/' ? c.redirect('/ui', 308) : c.html(errorPage(`There is no page ${c.req.path}.`), 404)));
  app.route('/ui', ui);
}

const DONE_NOTICES = new Map([
  ['mark-broken', 'The release is marked broken: hosts still waiting stand down, and it cannot be deployed again.'],
  ['rollback', 'Rollback started: this is its deploy.'],
]);

function safeNext(next: string | undefined): string {
  return next !== undefined && NEXT_PATH.test(next) ? next : '/ui';
}

function errorPage(text: string, viewer?: Viewer): string {
  return pageShell({
    title: 'Not done',
    ...(viewer ? { viewer } : {}),
    main: html`<h1>Not done</h1><p class="notice error" role="alert">${text}</p><p><a href="/ui">Back to the fleet</a></p>`,
  });
}

/** `?hosts=` names a page of a deploy's hosts, as its "more hosts" link gave it; anything else is the first page. */
function hostsCursor(c: Context<CoordinatorEnv>): string | undefined {
  const cursor = c.req.query('hosts');
  return cursor !== undefined && /^[A-Za-z0-9:._-]{1,200}$/.test(cursor) ? cursor : undefined;
}
