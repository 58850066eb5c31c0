// How a person signs in to the dashboard: they paste their token into the sign-in form once;
// it is kept in a cookie the page's scripts cannot read (HttpOnly), that the browser sends
// only to this coordinator and never on a request another site starts (SameSite=Strict),
// only over HTTPS when the coordinator serves HTTPS (Secure), and for 12 hours at most. No
// token ever goes into a URL. The cookie is accepted by the /ui pages and by GET /v1/events
// (the pages' live updates) only; the rest of /v1 wants the Authorization header as before.
// A form that changes something also carries a token derived from the session's (CSRF), and
// its Origin, when the browser sends one, must be this coordinator's.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

export const SESSION_COOKIE = 'gv_session';
/** A sign-in lasts this long at most; the token's own expiry and revocation apply at every request. */
export const SESSION_MAX_AGE_S = 12 * 60 * 60;
/** The form field carrying the CSRF token. */
export const CSRF_FIELD = 'csrf';

const cookieOptions = (c: Context) => ({ path: '/', httpOnly: true, sameSite: 'Strict' as const, secure: new URL(c.req.url).protocol === 'https:' });

export function startSession(c: Context, token: string): void {
  setCookie(c, SESSION_COOKIE, token, { ...cookieOptions(c), maxAge: SESSION_MAX_AGE_S });
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
}

/** The token of the request's sign-in cookie, if it has one. */
export function sessionToken(c: Context): string | undefined {
  const token = getCookie(c, SESSION_COOKIE);
  return token === undefined || token === '' ? undefined : token;
}

/** For the /v1 authentication: the sign-in cookie counts for the dashboard's event stream only. */
export function eventStreamSessionToken(c: Context): string | undefined {
  return c.req.method === 'GET' && c.req.path === '/v1/events' ? sessionToken(c) : undefined;
}

/** The session's CSRF token: only a page served to the holder of the token can know it. */
export function csrfTokenFor(token: string): string {
  return createHmac('sha256', token).update('grapevine dashboard form').digest('base64url');
}

/** Why a form post must be refused, or undefined when it came from a page of this coordinator's session. */
export function formRefusal(c: Context, token: string, sentCsrf: unknown): string | undefined {
  const origin = foreignOrigin(c);
  if (origin !== undefined) return `the form was sent from another site (${origin})`;
  if (typeof sentCsrf !== 'string' || !sameText(sentCsrf, csrfTokenFor(token))) return 'the form is out of date or was not sent from this dashboard: reload the page and try again';
  return undefined;
}

/** The Origin a browser sent with a form when it is not this coordinator's (another site posted it); undefined otherwise. */
export function foreignOrigin(c: Context): string | undefined {
  const origin = c.req.header('origin');
  return origin !== undefined && origin !== new URL(c.req.url).origin ? origin : undefined;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
