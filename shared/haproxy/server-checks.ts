// How HAProxy tells that a Grapevine server cannot be reached: the options every registered
// server carries, on `add server` and on the `server` lines provisioning/haproxy/save-servers.sh
// writes before a reload (that script holds the same string; the reload test checks they agree).
//
// - `check`: a layer-4 check, a TCP connect; it asks nothing of the app and fails the same way a
//   request would, at an unreachable host, a dead process or a closed port.
// - `inter 1s fastinter 500ms fall 2`: a server that stops accepting is DOWN after two failed
//   checks, the second one half a second after the first (about 1 to 2.5 s); one lost check alone
//   does not take a server out.
// - `rise 2`: two good checks in a row before a server that was DOWN gets traffic again, so a
//   flapping host is not sent traffic on a single answer. A registration does not wait for them:
//   the agent has just seen its container healthy, so it forces the health up.
// - `observe layer4 error-limit 1 on-error mark-down`: a live connection that fails marks the
//   server DOWN at once, so with traffic a dead host gets no more requests after the first one
//   (which is retried on another server, see haproxy-config.ts), long before the checks decide.
export const SERVER_CHECK_OPTIONS = 'check inter 1s fastinter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down';
