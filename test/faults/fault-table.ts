// The one table `npm run faults` prints: every fault case, in any file, records its row here;
// rows go as JSON lines to the file the faults project's global setup provides, and its
// teardown prints them all at the end of the run.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { inject } from 'vitest';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { ServiceFigures } from './service-watch.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The file the faults project's rows are appended to; absent outside that project. */
    faultTable?: string;
  }
}

export interface FaultRow {
  fault: string;
  /** The most of the group's hosts out of service at any sample; absent when nothing was sampled. */
  mostOut?: number;
  k?: number;
  /** From the deploy's creation to its end, as the coordinator recorded them. */
  secondsToEnd?: number;
  /** The deploy's final state and reason, or what the fault ended in when there is no deploy. */
  finalState: string;
  requests?: number;
  requestsFailed?: number;
  /** HAProxy samples taken, and how many its socket did not answer: printed on the case's line only. */
  samples?: number;
  samplesUnanswered?: number;
}

/** A row from what the service watch saw and the deploy as it ended (undefined if it never did). */
export function faultRow(fault: string, k: number, figures: ServiceFigures | undefined, deploy: Deploy | undefined): FaultRow {
  return {
    fault,
    k,
    mostOut: figures?.mostOut,
    requests: figures?.requests,
    requestsFailed: figures?.requestsFailed,
    samples: figures?.samples,
    samplesUnanswered: figures?.samplesUnanswered,
    secondsToEnd: deploy?.finishedAt === undefined ? undefined : Math.round((deploy.finishedAt - deploy.createdAt) / 100) / 10,
    finalState: deploy ? `${deploy.status}${deploy.reason ? ` (${deploy.reason})` : ''}` : 'did not end',
  };
}

/** Adds the row to the run's table and prints it as one line at once. */
export function recordFault(row: FaultRow): void {
  const sampled = row.samples === undefined ? '' : ` | samples ${row.samples} (${row.samplesUnanswered ?? 0} unanswered)`;
  console.log(`fault: ${formatCells(row).join(' | ')}${sampled}`);
  const table = inject('faultTable');
  if (table !== undefined) appendFileSync(table, `${JSON.stringify(row)}\n`);
}

/** The rows recorded in `file`, in the order they were recorded. */
export function readFaultRows(file: string): FaultRow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as FaultRow);
}

/** The rows as one markdown table, the form README's "Reliability" section quotes. */
export function formatFaultTable(rows: FaultRow[]): string {
  return [
    '| fault | most out of service / k | seconds to the deploy\'s end | final state | requests failed |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${formatCells(row).join(' | ')} |`),
  ].join('\n');
}

function formatCells(row: FaultRow): string[] {
  return [
    row.fault,
    row.mostOut === undefined ? '-' : `${row.mostOut} / ${row.k ?? '-'}`,
    row.secondsToEnd === undefined ? '-' : String(row.secondsToEnd),
    row.finalState,
    row.requests === undefined ? '-' : `${row.requestsFailed ?? 0} of ${row.requests}`,
  ];
}
