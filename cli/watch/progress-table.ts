// One frame of the live table `--wait` draws on a terminal: a header with the deploy, then a
// row per host with its step (or its final state and why), how long it has been at it, and
// the slot it holds. Pure: the frame depends only on the record, the clock and the terminal's
// size, so it is tested without a terminal. States are words; colour only adds to them.
import { byHostName } from '../../shared/contract/deploy-analysis.js';
import { FINAL_HOST_STATES, type Deploy, type HostReport, type HostState } from '../../shared/contract/schemas.js';

export interface FrameOptions {
  /** The clock (ms since the epoch): elapsed times of what is still going run to it. */
  now: number;
  /** The terminal's size: lines are cut to its width; hosts beyond its height are counted in one line. */
  columns: number;
  rows: number;
  color: boolean;
}

const HOST_WIDTH_MAX = 24;
const ELAPSED_WIDTH = 8;
const SLOT_WIDTH = 4;
const STEP_WIDTH_MIN = 10;
const GAP = '  ';
/** The header, the column titles, and the line log-update keeps for its cursor. */
const FIXED_LINES = 3;

interface Row {
  host: string;
  step: string;
  /** How the step cell is coloured, and how urgently the row is shown when not every row fits. */
  tone: Tone;
  elapsed: string;
  slot: string;
}

type Tone = 'working' | 'bad' | 'waiting' | 'unheard' | 'good' | 'stood-down';
const SHOWN_FIRST: readonly Tone[] = ['working', 'bad', 'waiting', 'unheard', 'stood-down', 'good'];

const SGR: Record<Tone | 'bold', string> = {
  working: '36', // cyan
  bad: '31', // red
  waiting: '2', // dim
  unheard: '2',
  good: '32', // green
  'stood-down': '33', // yellow
  bold: '1',
};

export function progressFrame(deploy: Deploy, options: FrameOptions): string {
  const { columns, color } = options;
  const paint = (tone: Tone | 'bold', text: string) => (color ? `\u001B[${SGR[tone]}m${text}\u001B[0m` : text);
  const all = rowsOf(deploy, options.now);
  const shown = fitRows(all, Math.max(0, options.rows - FIXED_LINES));
  const hostWidth = Math.min(HOST_WIDTH_MAX, Math.max(4, ...shown.rows.map((r) => r.host.length)));
  const room = columns - hostWidth - ELAPSED_WIDTH - SLOT_WIDTH - 3 * GAP.length;
  const stepWidth = Math.max(STEP_WIDTH_MIN, Math.min(room, Math.max(4, ...shown.rows.map((r) => r.step.length))));
  const line = (host: string, step: string, elapsed: string, slot: string, tone?: Tone) => {
    const text = cut(step, stepWidth);
    const stepCell = `${tone === undefined ? text : paint(tone, text)}${' '.repeat(stepWidth - text.length)}`;
    return [cut(host, hostWidth).padEnd(hostWidth), stepCell, elapsed.padStart(ELAPSED_WIDTH), slot.padStart(SLOT_WIDTH)].join(GAP).trimEnd();
  };
  const lines = [
    headerLine(deploy, options.now, columns, paint),
    line('HOST', 'STEP', 'ELAPSED', 'SLOT'),
    ...shown.rows.map((row) => line(row.host, row.step, row.elapsed, row.slot, row.tone)),
  ];
  if (shown.hidden.length > 0) lines.push(cut(`... ${shown.hidden.length} more: ${countStates(shown.hidden)}`, columns));
  return lines.join('\n');
}

function headerLine(deploy: Deploy, now: number, columns: number, paint: (tone: Tone | 'bold', text: string) => string): string {
  const ended = deploy.status !== 'in_progress';
  const elapsed = formatElapsed((ended ? (deploy.finishedAt ?? now) : now) - deploy.createdAt);
  const targets = deploy.targets?.length ?? deploy.expectedHosts;
  const slots = deploy.slots !== undefined && targets !== undefined ? `  k=${deploy.slots} of ${targets} hosts` : '';
  const status = deploy.status.replace('_', ' ');
  const plain = `deploy ${deploy.id}  ${deploy.role}:${deploy.tag} -> ${deploy.env}  ${status}  ${elapsed}${slots}`;
  if (plain.length > columns) return cut(plain, columns);
  const tone: Tone = deploy.status === 'succeeded' ? 'good' : deploy.status === 'in_progress' ? 'working' : 'bad';
  return plain.replace(`  ${status}  `, `  ${paint(tone, status)}  `);
}

/** A row per host that reported, and one per target not heard from yet, in host-name order. */
function rowsOf(deploy: Deploy, now: number): Row[] {
  const rows = Object.values(deploy.hosts).map((report) => rowOf(report, now));
  for (const host of deploy.targets ?? []) {
    if (!deploy.hosts[host]) rows.push({ host, step: 'not heard from', tone: 'unheard', elapsed: '', slot: '' });
  }
  return rows.sort((a, b) => byHostName(a.host, b.host));
}

function rowOf(report: HostReport, now: number): Row {
  const steps = [...report.steps].sort((a, b) => a.at - b.at);
  const first = steps[0]?.at;
  const last = steps[steps.length - 1];
  if (FINAL_HOST_STATES.has(report.state)) {
    const end = report.endedAt ?? last?.at;
    return {
      host: report.host,
      step: report.error ? `${report.state}: ${oneLine(report.error)}` : report.state,
      tone: toneOfEnd(report.state),
      elapsed: first === undefined || end === undefined ? '' : formatElapsed(end - first),
      slot: '',
    };
  }
  const holding = report.slot !== undefined && steps.some((s) => s.step === 'slot') && !steps.some((s) => s.step === 'release');
  return {
    host: report.host,
    step: last?.step ?? report.state,
    tone: holding ? 'working' : 'waiting',
    elapsed: first === undefined ? '' : formatElapsed(now - first),
    slot: holding ? String(report.slot) : '',
  };
}

function toneOfEnd(state: HostState): Tone {
  if (state === 'succeeded') return 'good';
  if (state === 'cancelled') return 'stood-down';
  return 'bad';
}

/** Every row when they fit in `room` lines; else the most telling ones and the rest counted on one more line. */
function fitRows(rows: Row[], room: number): { rows: Row[]; hidden: Row[] } {
  if (rows.length <= room) return { rows, hidden: [] };
  const keep = new Set([...rows].sort((a, b) => SHOWN_FIRST.indexOf(a.tone) - SHOWN_FIRST.indexOf(b.tone)).slice(0, Math.max(0, room - 1)));
  return { rows: rows.filter((r) => keep.has(r)), hidden: rows.filter((r) => !keep.has(r)) };
}

function countStates(rows: Row[]): string {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const word = row.tone === 'working' || row.tone === 'waiting' ? row.step : row.step.split(':')[0]!;
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return [...counts].map(([word, n]) => `${n} ${word}`).join(', ');
}

/** 12.3 s under a minute, 2m05s past it. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 0 ? '' : `${text.slice(0, width - 1)}…`;
}

/** An error may span lines, and comes from a host: a row is one line, and no control character reaches the terminal. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/[\u0000-\u001F\u007F-\u009F]/g, '?').trim();
}
