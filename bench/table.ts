// The benchmark's one table: a row per figure, a column per cluster size, each cell the
// median over runs with min and max beside it, and the target the figure is held to.
import type { SizeResult } from './cluster-bench.js';
import type { RunFigures } from './run-figures.js';
import { spread, type Spread } from './measure.js';

interface Target {
  text: string;
  /** Whether the median meets the target at this size; undefined where the target does not apply. */
  met(median: number, size: SizeResult): boolean | undefined;
}

interface Row {
  label: string;
  unit: string;
  value: (run: RunFigures) => number;
  digits?: number;
  target?: Target;
}

/** A row whose cell is written from the whole size's figures rather than one number per run. */
interface SizeRow {
  label: string;
  unit: string;
  cell: (size: SizeResult) => string;
  target: string;
}

const MB = 1024 * 1024;
/** An agent's resident memory at its peak during a deploy, max over hosts. */
const AGENT_PEAK_RSS_TARGET_MB = 100;

const overheadTarget: Target = {
  text: '≤ max(300 ms, 3 %) at 12; ≤ 1 s at 30',
  met(overhead, size) {
    const ideal = spread(size.runs.map((r) => r.idealMs)).median;
    if (size.hosts === 12) return overhead <= Math.max(300, 0.03 * ideal);
    if (size.hosts === 30) return overhead <= 1_000;
    return undefined;
  },
};

/** The bound on a switch across the group, either way. */
const SWITCH_TARGET_MS = 1_000;

/**
 * The blue/green cycles: on HAProxy, from the moment a switch began until every host's server
 * of the new colour was at full weight and every other at 0, median over cycles, to the new
 * colour and back; and how many servers each switch weighed.
 */
const switchRow: SizeRow = {
  label: 'blue/green switch, whole group',
  unit: 'ms',
  target: `≤ ${SWITCH_TARGET_MS / 1000} s each way`,
  cell(size) {
    if (size.blueGreen.length === 0) return '–';
    const there = spread(size.blueGreen.map((c) => c.switchLbMs));
    const back = spread(size.blueGreen.map((c) => c.backLbMs));
    const servers = new Set(size.blueGreen.flatMap((c) => [c.servers, c.backServers]));
    const met = there.median <= SWITCH_TARGET_MS && back.median <= SWITCH_TARGET_MS;
    return `${cell(there, 0)}, back ${cell(back, 0)} (${[...servers].join('/')} servers)${met ? ' ✓' : ' ✗'}`;
  },
};

const ROWS: Array<Row | SizeRow | string> = [
  'rollout',
  { label: 'per-host work T (pull → release)', unit: 'ms', value: (r) => r.perHostWorkMs },
  { label: '  slowest host', unit: 'ms', value: (r) => r.perHostWorkMaxMs },
  { label: 'gossip delay (created → last received)', unit: 'ms', value: (r) => r.gossipMs },
  { label: 'Grapevine wall (CLI start → finishedAt)', unit: 'ms', value: (r) => r.wallMs },
  { label: 'ideal (waves × T + gossip)', unit: 'ms', value: (r) => r.idealMs },
  { label: 'overhead', unit: 'ms', value: (r) => r.overheadMs, target: overheadTarget },
  { label: 'overhead', unit: '%', value: (r) => r.overheadPct, digits: 1 },
  { label: 'ideal of each host\'s own T (k-slot schedule)', unit: 'ms', value: (r) => r.idealOwnTMs },
  { label: 'overhead over it (coordination alone)', unit: 'ms', value: (r) => r.overheadOwnTMs },
  { label: 'machine CPU stolen by the hypervisor meanwhile (steal)', unit: '%', value: (r) => r.stealPercent, digits: 1 },
  { label: 'slot hand-over, median', unit: 'ms', value: (r) => r.handOverMedianMs },
  { label: 'slot hand-over, max', unit: 'ms', value: (r) => r.handOverMaxMs },
  { label: 'Ansible wall (same rollout)', unit: 'ms', value: (r) => r.ansibleWallMs },
  {
    label: 'Ansible ÷ Grapevine',
    unit: '×',
    value: (r) => r.ratio,
    digits: 2,
    target: { text: '> 1', met: (ratio) => ratio > 1 },
  },
  switchRow,
  'overhead along the critical path (the parts add up to the overhead)',
  { label: 'CLI start → createdAt', unit: 'ms', value: (r) => r.critical.cliMs },
  { label: 'createdAt → first slot, beyond gossip', unit: 'ms', value: (r) => r.critical.firstSlotBeyondGossipMs },
  { label: 'slot → pull, summed over the waves', unit: 'ms', value: (r) => r.critical.slotToPullMs },
  { label: 'pull → release beyond waves × T', unit: 'ms', value: (r) => r.critical.workBeyondMedianMs },
  { label: 'slot hand-overs', unit: 'ms', value: (r) => r.critical.handOversMs },
  { label: 'last release → finishedAt', unit: 'ms', value: (r) => r.critical.tailMs },
  'Redis',
  { label: 'commands per host per deploy (commandstats, all)', unit: 'cmd', value: (r) => r.redisPerHostPerDeploy, digits: 1 },
  { label: '  of which the agents sent (no Lua internals)', unit: 'cmd', value: (r) => r.redisAgentSentPerHostPerDeploy, digits: 1 },
  {
    label: 'commands per waiting host per second, all it causes (MONITOR, scripts included)',
    unit: 'cmd/s',
    value: (r) => r.waitingAllPerHostPerSec,
    digits: 2,
    target: { text: '≤ 1', met: (rate) => rate <= 1 },
  },
  { label: '  of which the agent sent itself', unit: 'cmd/s', value: (r) => r.waitingSentPerHostPerSec, digits: 2 },
  { label: '  poll period of a waiting agent', unit: 'ms', value: (r) => r.waitingPollPeriodMs },
  { label: 'whole Redis while hosts wait, per host (commandstats, every client)', unit: 'cmd/s', value: (r) => r.redisPerWaitingHostPerSec, digits: 2 },
  { label: 'coordinator while hosts wait (whole group)', unit: 'cmd/s', value: (r) => r.redisCoordinatorPerSecWhileWaiting, digits: 1 },
  'agent memory (max over hosts)',
  { label: 'RSS idle, before the deploy', unit: 'MB', value: (r) => r.rssIdleMaxBytes / MB, digits: 1 },
  {
    label: 'RSS peak during the deploy (100 ms samples)',
    unit: 'MB',
    value: (r) => r.rssPeakMaxBytes / MB,
    digits: 1,
    target: { text: `≤ ${AGENT_PEAK_RSS_TARGET_MB} MB`, met: (peak) => peak <= AGENT_PEAK_RSS_TARGET_MB },
  },
  'where the time goes (median over hosts)',
  { label: 'createdAt → received', unit: 'ms', value: (r) => r.breakdown.createdToReceived },
  { label: 'received → slot (hosts that did not wait)', unit: 'ms', value: (r) => r.breakdown.receivedToSlotFirstWave },
  { label: 'slot → drain', unit: 'ms', value: (r) => r.breakdown.slotToDrain },
  { label: 'drain', unit: 'ms', value: (r) => r.breakdown.drain },
  { label: 'pull', unit: 'ms', value: (r) => r.breakdown.pull },
  { label: 'compose up', unit: 'ms', value: (r) => r.breakdown.up },
  { label: 'health gate (its soak included)', unit: 'ms', value: (r) => r.breakdown.health },
  { label: 'register → release', unit: 'ms', value: (r) => r.breakdown.register },
];

function format(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function cell(stats: Spread, digits: number): string {
  if (!Number.isFinite(stats.median)) return '–';
  if (stats.min === stats.max) return format(stats.median, digits);
  return `${format(stats.median, digits)} [${format(stats.min, digits)}–${format(stats.max, digits)}]`;
}

export function renderTable(sizes: SizeResult[]): string {
  const header = ['', 'unit', ...sizes.map((s) => `${s.hosts} hosts (${s.slots} slots, ${s.waves} waves, ${s.runs.length} runs)`), 'target'];
  const lines: string[][] = [header];
  const sections: number[] = [];
  for (const row of ROWS) {
    if (typeof row === 'string') {
      sections.push(lines.length);
      lines.push([row]);
      continue;
    }
    if ('cell' in row) {
      lines.push([`  ${row.label}`, row.unit, ...sizes.map((size) => row.cell(size)), row.target]);
      continue;
    }
    const digits = row.digits ?? 0;
    const cells = sizes.map((size) => {
      const stats = spread(size.runs.map(row.value));
      const met = row.target?.met(stats.median, size);
      return `${cell(stats, digits)}${met === undefined ? '' : met ? ' ✓' : ' ✗'}`;
    });
    lines.push([`  ${row.label}`, row.unit, ...cells, row.target?.text ?? '']);
  }
  const widths = header.map((_, column) =>
    Math.max(...lines.filter((_, i) => !sections.includes(i)).map((line) => [...(line[column] ?? '')].length)),
  );
  const pad = (text: string, width: number, right: boolean) => {
    const space = ' '.repeat(Math.max(0, width - [...text].length));
    return right ? space + text : text + space;
  };
  const rule = '-'.repeat(widths.reduce((sum, w) => sum + w + 3, -3));
  const out: string[] = [];
  for (const [index, line] of lines.entries()) {
    if (sections.includes(index)) {
      out.push(line[0] ?? '');
      continue;
    }
    out.push(
      line
        .map((text, column) => pad(text, widths[column] ?? 0, column >= 2 && column < line.length - 1))
        .join('   ')
        .trimEnd(),
    );
    if (index === 0) out.push(rule);
  }
  return out.join('\n');
}
