// The dashboard's one script, shipped inside the bundle as a string (no front-end build): it
// follows the page's event stream (`data-events` on <body>, an EventSource, which resumes
// with Last-Event-ID by itself after a coordinator restart) and, on each event, fetches the
// page's live parts again (`data-live-url` on each), rendered by the coordinator from the
// same analysis as the CLI's. A burst of events costs one fetch per part per `data-live-gap-ms`
// (250 ms unless set); a page nobody changes costs nothing. It never asks hosts anything.
import type { FleetEventKind } from '../../../shared/contract/fleet-events.js';

/** Every kind the stream names in `event:`: EventSource hands over only the kinds listened for. Typed so that a new kind must be added here. */
const KINDS: Record<FleetEventKind, true> = {
  'release.published': true,
  'release.broken': true,
  'deploy.started': true,
  'host.reported': true,
  'deploy.finished': true,
  'promotion.failed': true,
  'token.created': true,
  'token.revoked': true,
  'host.forgotten': true,
  'group.frozen': true,
  'group.unfrozen': true,
  'flag.changed': true,
  'flag.killed': true,
  'group.switched': true,
  'routes.changed': true,
  'cluster.retired': true,
  'serf.key-rotated': true,
};

export const DASHBOARD_SCRIPT = `'use strict';
(function () {
  var KINDS = ${JSON.stringify([...Object.keys(KINDS), 'trimmed'])};
  var body = document.body;
  var statusLine = document.getElementById('live-status');
  var announce = document.getElementById('announce');
  var regions = Array.prototype.slice.call(document.querySelectorAll('[data-live-url]'));
  var lastStatus = currentStatus();

  function say(text, state) {
    if (!statusLine) return;
    statusLine.textContent = text;
    statusLine.setAttribute('data-live', state);
  }

  function currentStatus() {
    var element = document.querySelector('[data-deploy-status]');
    return element ? element.getAttribute('data-deploy-status') : null;
  }

  function swap(region, markup) {
    region.innerHTML = markup;
    var status = currentStatus();
    if (status && status !== lastStatus && announce) announce.textContent = 'The deploy is ' + status.replace('_', ' ') + '.';
    lastStatus = status;
  }

  function refresher(region) {
    var url = region.getAttribute('data-live-url');
    var gap = Number(region.getAttribute('data-live-gap-ms')) || 250;
    var running = false;
    var again = false;
    var lastAt = 0;
    function pause(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
    async function run() {
      running = true;
      try {
        do {
          again = false;
          var wait = lastAt + gap - Date.now();
          if (wait > 0) await pause(wait);
          lastAt = Date.now();
          var response = await fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'text/html' } });
          if (response.status === 401) {
            stop('You are signed out (the token is unknown, revoked or expired): reload the page to sign in again.');
            return;
          }
          if (!response.ok) throw new Error('the coordinator answered ' + response.status);
          swap(region, await response.text());
        } while (again);
      } catch (error) {
        say('Could not refresh this page: ' + error.message + '. Waiting for the next event.', 'error');
      } finally {
        running = false;
      }
    }
    return function () {
      if (running) again = true;
      else run();
    };
  }

  var refreshers = regions.map(refresher);
  function refreshAll() { refreshers.forEach(function (refresh) { refresh(); }); }

  var source;
  function stop(text) {
    if (source) source.close();
    say(text, 'stopped');
  }

  var url = body.getAttribute('data-events');
  if (!url || regions.length === 0) return;
  if (!window.EventSource) {
    say('Live updates are off: this browser cannot follow an event stream. Reload the page to see changes.', 'stopped');
    return;
  }
  source = new EventSource(url);
  var connectedBefore = false;
  source.addEventListener('open', function () {
    say('Live: this page follows the fleet\\'s events.', 'open');
    // Back after an outage: whatever the events do not say (a restart) is read again.
    if (connectedBefore) refreshAll();
    connectedBefore = true;
  });
  source.addEventListener('error', function () {
    if (source.readyState === EventSource.CLOSED) {
      stop('Live updates stopped: the coordinator refused the event stream (signed out, or too many streams open). Reload the page.');
    } else {
      say('Reconnecting to the event stream…', 'connecting');
    }
  });
  KINDS.forEach(function (kind) { source.addEventListener(kind, refreshAll); });
})();
`;
