// The fleet simulation's table: a row per figure, a column per fleet size, the target beside
// the figures it holds (✓ met, ✗ missed), in bench/table.ts's layout.
import type { FleetResult } from './fleet-figures.js';

const MB = 1024 * 1024;
/** Issue 14's bounds on the overhead over the ideal. */
export const OVERHEAD_TARGET_MS: Readonly<Record<number, number>> = { 1_000: 1_000, 10_000: 3_000 };
export const COORDINATOR_CPU_TARGET_MS = 2;

interface Row {
  label: string;
  unit: string;
  value: (r: FleetResult) => number | string;
  digits?: number;
  target?: { text: string; met: (r: FleetResult) => boolean | undefined };
}

const ROWS: Array<Row | string> = [
  'rollout',
  { label: 'deploy status', unit: '', value: (r) => r.status },
  { label: 'hosts per final state', unit: '', value: (r) => Object.entries(r.states).map(([state, n]) => `${n} ${state}`).join(', ') },
  { label: 'per-host work T, median of the draws', unit: 'ms', value: (r) => r.workMedianMs },
  { label: 'event delivery (gossip model), median', unit: 'ms', value: (r) => r.deliveryMedianMs },
  { label: 'event delivery, last host', unit: 'ms', value: (r) => r.deliveryMaxMs },
  { label: 'createdAt → event handed to Serf', unit: 'ms', value: (r) => r.createdToFiredMs },
  { label: 'wall (createdAt → finishedAt)', unit: 'ms', value: (r) => r.wallMs },
  { label: 'ideal (k-slot schedule of the draws, delivery in it)', unit: 'ms', value: (r) => r.idealMs },
  {
    label: 'overhead over the ideal',
    unit: 'ms',
    value: (r) => r.overheadMs,
    target: {
      text: '≤ 1 s at 1 000; ≤ 3 s at 10 000',
      met: (r) => {
        const bound = OVERHEAD_TARGET_MS[r.hosts];
        // A run that never ended missed its bound; a size without one is not marked.
        return bound === undefined ? undefined : Number.isFinite(r.overheadMs) && r.overheadMs <= bound;
      },
    },
  },
  { label: 'overhead', unit: '%', value: (r) => (100 * r.overheadMs) / r.idealMs, digits: 1 },
  { label: 'slot hand-over p50 (release → next grant of the slot)', unit: 'ms', value: (r) => r.handOverP50Ms, digits: 1 },
  { label: 'slot hand-over p99', unit: 'ms', value: (r) => r.handOverP99Ms, digits: 1 },
  { label: 'hand-overs measured', unit: '', value: (r) => r.handOvers },
  'coordinator (a process of its own; with --fleet-coordinators 2, both summed)',
  { label: 'deploys before this one (warm-up group; the fleet)', unit: '', value: (r) => r.warmUp },
  {
    label: 'CPU per host per deploy (process.cpuUsage / N)',
    unit: 'ms',
    value: (r) => r.coordinatorCpuMsPerHost,
    digits: 2,
    target: { text: `≤ ${COORDINATOR_CPU_TARGET_MS} ms`, met: (r) => r.coordinatorCpuMsPerHost <= COORDINATOR_CPU_TARGET_MS },
  },
  {
    label: 'each coordinator: CPU per host of the fleet (share of the requests)',
    unit: 'ms',
    value: (r) => r.coordinatorsEach.map((c) => `${c.cpuMsPerHost.toFixed(2)} (${c.requestShare.toFixed(0)} %)`).join(' / '),
  },
  { label: 'HTTP requests per host (all)', unit: 'req', value: (r) => r.requestsPerHost, digits: 1 },
  { label: '  of which host-view lookups (retries included)', unit: 'req', value: (r) => r.viewsPerHost, digits: 1 },
  { label: '  of which reports', unit: 'req', value: (r) => r.reportsPerHost, digits: 1 },
  { label: 'RSS peak during the deploy', unit: 'MB', value: (r) => r.coordinatorRssPeakBytes / MB, digits: 0 },
  'Redis',
  { label: 'commands per host (commandstats delta / N, Lua inner calls in)', unit: 'cmd', value: (r) => r.redisCommandsPerHost, digits: 1 },
  { label: 'CPU over the deploy (used_cpu_sys + user)', unit: 'ms', value: (r) => r.redisCpuMs },
  { label: 'CPU per host', unit: 'ms', value: (r) => r.redisCpuMs / r.hosts, digits: 2 },
  { label: 'used_memory peak', unit: 'MB', value: (r) => r.redisMemoryPeakBytes / MB, digits: 1 },
  { label: 'connected_clients peak', unit: '', value: (r) => r.redisClientsPeak },
  'simulated hosts',
  { label: 'worker RSS peak per simulated host', unit: 'KB', value: (r) => r.workerRssPerHostBytes / 1024, digits: 0 },
  { label: 'worker CPU per simulated host (agent code, Redis and HTTP clients)', unit: 'ms', value: (r) => r.workerCpuMsPerHost, digits: 2 },
  'the machine over the deploy (/proc/stat, every process)',
  { label: 'CPU busy', unit: '%', value: (r) => r.machine.busyPercent, digits: 0 },
  { label: 'CPU stolen by the hypervisor (steal: work waited while another guest ran)', unit: '%', value: (r) => r.machine.stealPercent, digits: 1 },
];

function cell(row: Row, result: FleetResult): string {
  const value = row.value(result);
  const text = typeof value === 'string' ? value : Number.isFinite(value) ? value.toFixed(row.digits ?? 0) : '–';
  const met = row.target?.met(result);
  return `${text}${met === undefined ? '' : met ? ' ✓' : ' ✗'}`;
}

export function renderFleetTable(results: readonly FleetResult[]): string {
  const header = ['', 'unit', ...results.map((r) => `${r.hosts} hosts (${r.slots} slots, ${r.waves} waves)`), 'target'];
  const lines: string[][] = [header];
  const sections = new Set<number>();
  for (const row of ROWS) {
    if (typeof row === 'string') {
      sections.add(lines.length);
      lines.push([row]);
    } else {
      lines.push([`  ${row.label}`, row.unit, ...results.map((r) => cell(row, r)), row.target?.text ?? '']);
    }
  }
  const widths = header.map((_, column) => Math.max(...lines.filter((_, i) => !sections.has(i)).map((line) => [...(line[column] ?? '')].length)));
  const pad = (text: string, width: number, right: boolean) => {
    const space = ' '.repeat(Math.max(0, width - [...text].length));
    return right ? space + text : text + space;
  };
  const out: string[] = [];
  for (const [index, line] of lines.entries()) {
    if (sections.has(index)) {
      out.push(line[0] ?? '');
      continue;
    }
    out.push(line.map((text, column) => pad(text, widths[column] ?? 0, column >= 2 && column < line.length - 1)).join('   ').trimEnd());
    if (index === 0) out.push('-'.repeat(widths.reduce((sum, w) => sum + w + 3, -3)));
  }
  const notes = results.filter((r) => r.incomplete !== undefined).map((r) => `${r.hosts} hosts: incomplete, ${r.incomplete}`);
  return [...out, ...notes].join('\n');
}
