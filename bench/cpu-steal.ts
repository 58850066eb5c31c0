// The whole machine's CPU time over a measured window, from /proc/stat's first line. On a
// virtual machine, `steal` is time a CPU of this guest had work and the hypervisor ran
// another guest instead: nothing in the deploy's code, yet it stretches every figure timed
// on the wall. The benches print it beside the figures it may explain (on this project's
// 2-core machines it ranged from 1 % idle to over 30 % under a cluster's load).
import { readFileSync } from 'node:fs';

export interface CpuTicks {
  /** user, nice, system, irq and softirq. */
  busy: number;
  steal: number;
  /** Every field of the line but guest time, which user already counts. */
  total: number;
}

/** Now's totals; undefined where /proc/stat cannot be read (not Linux). */
export function cpuTicks(): CpuTicks | undefined {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  const fields = line?.startsWith('cpu ') ? line.slice(4).trim().split(/\s+/).map(Number) : [];
  if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return undefined;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

export interface CpuShares {
  /** Per cent of the machine's CPU time in the window that the guest spent working. */
  busyPercent: number;
  /** Per cent of it the hypervisor gave to others while this guest had work. */
  stealPercent: number;
}

/** The window's shares; NaN when either reading is missing or no time passed. */
export function cpuShares(before: CpuTicks | undefined, after: CpuTicks | undefined): CpuShares {
  const total = before && after ? after.total - before.total : 0;
  if (!before || !after || total <= 0) return { busyPercent: Number.NaN, stealPercent: Number.NaN };
  return { busyPercent: (100 * (after.busy - before.busy)) / total, stealPercent: (100 * (after.steal - before.steal)) / total };
}
