// How states, times and durations read on the dashboard: every state as a symbol and a word,
// so that none depends on colour alone (the colour comes from the state's class).
import type { DeployStatus, HostState } from '../../shared/contract/schemas.js';
import { html, type Markup } from './html.js';

const HOST_STATE_SYMBOLS: Record<HostState | 'pending', string> = {
  pending: '○',
  waiting: '…',
  deploying: '▶',
  succeeded: '✓',
  failed: '✗',
  errored: '!',
  cancelled: '–',
  lost: '?',
};

const DEPLOY_STATUS_SYMBOLS: Record<DeployStatus, string> = {
  in_progress: '▶',
  succeeded: '✓',
  failed: '✗',
  cancelled: '–',
  partial: '◐',
};

/** `pending`: a target that has not reported yet. */
export function hostStateLabel(state: HostState | 'pending'): Markup {
  const text = state === 'pending' ? 'not reported yet' : state;
  return html`<span class="state state-${state}" data-state="${state}"><span aria-hidden="true">${HOST_STATE_SYMBOLS[state]}</span> ${text}</span>`;
}

export function deployStatusLabel(status: DeployStatus): Markup {
  return html`<span class="state status-${status}" data-status="${status}"><span aria-hidden="true">${DEPLOY_STATUS_SYMBOLS[status]}</span> ${status.replace('_', ' ')}</span>`;
}

/** `2024-05-01 12:00:03 UTC`, inside a <time> element machines can read. */
export function timeLabel(ms: number): Markup {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC</time>`;
}

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function durationText(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(seconds / 3_600)} h ${String(Math.floor((seconds % 3_600) / 60)).padStart(2, '0')} min`;
}
