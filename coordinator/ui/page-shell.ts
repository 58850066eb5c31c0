// The frame of every dashboard page: language, title, the one stylesheet and script (served
// from /ui/assets, as the Content-Security-Policy allows nothing inline), a skip link for
// keyboard users, who is signed in with a sign-out button, and a polite live region the
// script announces changes in.
import { html, type Fragment, type Markup } from './html.js';
import { SCRIPT_PATH, STYLESHEET_PATH } from './assets/asset-routes.js';
import { CSRF_FIELD } from './session.js';

export interface Viewer {
  /** The credential's actor, as the API records it: `viewer alice (t-3f9a2c1b)`. */
  actor: string;
  csrf: string;
}

export interface ShellOptions {
  title: string;
  main: Fragment;
  viewer?: Viewer;
  /** The event stream this page follows (`/v1/events?...`); the script refreshes the page's live parts on each event. */
  events?: string;
}

export function pageShell({ title, main, viewer, events }: ShellOptions): string {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Grapevine</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<script src="${SCRIPT_PATH}" defer></script>
</head>
<body${events === undefined ? '' : html` data-events="${events}"`}>
<a class="skip-link" href="#main">Skip to content</a>
<header class="top">
<nav aria-label="Dashboard"><a class="brand" href="/ui">Grapevine fleet</a></nav>
${viewer && signedIn(viewer)}
</header>
<main id="main" tabindex="-1">
${main}
</main>
<p id="announce" class="visually-hidden" aria-live="polite"></p>
</body>
</html>
`;
  return page.text;
}

function signedIn(viewer: Viewer): Markup {
  return html`<form class="sign-out" method="post" action="/ui/logout">
<span>Signed in as <strong>${viewer.actor}</strong></span>
<input type="hidden" name="${CSRF_FIELD}" value="${viewer.csrf}">
<button type="submit">Sign out</button>
</form>`;
}
