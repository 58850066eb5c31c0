// The sign-in page: a person pastes a viewer, deployer or operator token once (from
// `grapevine token create`, or the dev cluster's secrets file); the form posts it, so it
// never lands in a URL, a browser's history or a proxy's log.
import { html, type Markup } from './html.js';

export interface LoginView {
  /** Where to go once signed in: a /ui path. */
  next: string;
  /** Why the person is here: signed out, an expired sign-in, or a refused token. */
  message?: { kind: 'ok' | 'error'; text: string };
}

export function loginMain({ next, message }: LoginView): Markup {
  return html`<div class="login">
<h1>Sign in to the fleet dashboard</h1>
${message && html`<p class="notice ${message.kind}" role="${message.kind === 'error' ? 'alert' : 'status'}">${message.text}</p>`}
<form method="post" action="/ui/login">
<label for="token">Token</label>
<input type="password" id="token" name="token" required autocomplete="off" spellcheck="false" autofocus>
<p class="hint">A viewer token shows the fleet; a deployer token may also roll back; an operator token may also mark a release broken. Make one with <code>grapevine token create --scope viewer --name YOUR-NAME</code>. It is kept in a cookie that scripts cannot read, for 12 hours at most.</p>
<input type="hidden" name="next" value="${next}">
<p><button type="submit" class="primary">Sign in</button></p>
</form>
</div>`;
}
