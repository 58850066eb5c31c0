// Global setup of the `faults` project: gives the run one file for the fault cases' rows
// and, when the run ends, prints them as one table and removes the file.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { formatFaultTable, readFaultRows } from '../faults/fault-table.js';

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gv-fault-table-'));
  const file = path.join(dir, 'rows.jsonl');
  project.provide('faultTable', file);
  return () => {
    const rows = readFaultRows(file);
    if (rows.length > 0) console.log(`\nFaults of this run (${rows.length}):\n${formatFaultTable(rows)}\n`);
    rmSync(dir, { recursive: true, force: true });
  };
}
