// Resident memory of the agent processes, read from /proc, once or every interval.
import { readFileSync } from 'node:fs';
import { parseVmRss } from './measure.js';

export function rssBytes(pid: number): number | undefined {
  try {
    return parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Samples every pid every `intervalMs` until stopped; keeps the highest reading per pid. */
export class MemorySampler {
  private readonly peaks = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private samples = 0;

  constructor(
    private readonly pids: readonly number[],
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  /** Stops sampling (one last sample first) and returns the peak per pid and the number of sampling rounds. */
  stop(): { peaks: Map<number, number>; samples: number } {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return { peaks: new Map(this.peaks), samples: this.samples };
  }

  private sample(): void {
    this.samples += 1;
    for (const pid of this.pids) {
      const rss = rssBytes(pid);
      if (rss !== undefined && rss > (this.peaks.get(pid) ?? 0)) this.peaks.set(pid, rss);
    }
  }
}
