// How long the `grapevine` command takes to start, against bare Node.js (`node -e 0`): a
// `grapevine deploy` whose coordinator refuses the connection (the deploy path loaded whole,
// nothing sent), `grapevine deploy --help` (the full program, commander and the deploy command)
// and a real `grapevine deploy` that creates a deploy of 12 hosts on a local coordinator over a
// real Redis (bench/cli-start-coordinator.ts). Each is a fresh process timed from spawn to
// exit, all interleaved round after round so a busy machine weighs on them alike. Prints wall
// and CPU figures with the target (the real deploy at most 60 ms over bare Node.js); never
// fails on them.
// Usage: node dist/bench/cli-start.js [--runs 20] [--bundle dist/bundle/main.js] [--json FILE]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../dev-cluster/free-port.js';
import { BENCH_ENV, BENCH_ROLE, startBenchCoordinator } from './cli-start-coordinator.js';
import { spread, type Spread } from './measure.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** Issue 14: `grapevine deploy` adds at most this much to bare Node.js's start. */
export const CLI_START_TARGET_MS = 60;
const MAX_RUNS = 500;

interface Timed {
  ms: number;
  /** The process's own CPU time (user + system), as bench/cli-start-cpu.ts reports it at exit. */
  cpuMs: number;
  code: number | null;
  stderr: string;
}

const CPU_HOOK = fileURLToPath(new URL('./cli-start-cpu.js', import.meta.url));
const CPU_LINE = /\ncli-start-cpu-ms ([\d.]+)\n$/;

/** Runs `node ARGS` and times it from spawn to exit, as a CI job's shell would, and reads its CPU time. */
function timeNode(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', CPU_HOOK, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const cpu = CPU_LINE.exec(stderr);
      resolve({ ms: performance.now() - started, cpuMs: cpu ? Number(cpu[1]) : Number.NaN, code, stderr: stderr.replace(CPU_LINE, '') });
    });
  });
}

function options(): { runs: number; bundle: string; json: string | undefined } {
  const here = dirname(fileURLToPath(import.meta.url));
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, bundle: { type: 'string', default: join(here, '..', 'bundle', 'main.js') }, json: { type: 'string' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS) {
    process.stderr.write(`cli-start: --runs must be a whole number from 1 to ${MAX_RUNS}, not "${values.runs}"\n`);
    process.exit(EXIT_USAGE);
  }
  return { runs, bundle: values.bundle, json: values.json };
}

function cell({ median, min, max }: Spread): string {
  return `${median.toFixed(0).padStart(6)} [${min.toFixed(0)}–${max.toFixed(0)}]`;
}

/** One process the bench starts each round, after bare Node.js. */
interface Case {
  key: 'loaded' | 'help' | 'deploy';
  label: string;
  args: (bundle: string) => string[];
  /** Its exit code when it works as meant. */
  code: number;
  env?: NodeJS.ProcessEnv;
}

async function main(): Promise<void> {
  const { runs, bundle, json } = options();
  // The token only in the child's environment, never on its command line.
  const token = randomBytes(24).toString('hex');
  const coordinator = await startBenchCoordinator(token);
  // A loopback port nobody listens on: the deploy path loads whole, and its connection is refused at once.
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const cases: Case[] = [
    { key: 'loaded', label: 'grapevine deploy, refused (path loaded)', args: (b) => [b, 'deploy', BENCH_ROLE, '--env', BENCH_ENV], code: EXIT_USAGE, env: { GRAPEVINE_COORDINATOR: nobody } },
    { key: 'help', label: 'grapevine deploy --help (full program)', args: (b) => [b, 'deploy', '--help'], code: 0 },
    { key: 'deploy', label: 'grapevine deploy, 12 hosts (real create)', args: (b) => [b, 'deploy', BENCH_ROLE, '--env', BENCH_ENV], code: 0 },
  ];
  const wall = { bare: [] as number[], loaded: [] as number[], help: [] as number[], deploy: [] as number[] };
  const cpu = { bare: [] as number[], loaded: [] as number[], help: [] as number[], deploy: [] as number[] };
  try {
    const env = { ...process.env, GRAPEVINE_COORDINATOR: coordinator.url, GRAPEVINE_TOKEN: token, GRAPEVINE_TOKEN_FILE: '' };
    for (let round = 0; round < runs; round++) {
      const bare = await timeNode(['-e', '0'], env);
      wall.bare.push(bare.ms);
      cpu.bare.push(bare.cpuMs);
      for (const { key, label, args, code, env: extra } of cases) {
        const run = await timeNode(args(bundle), { ...env, ...extra });
        if (run.code !== code) throw new Error(`${label} exited ${run.code}, not ${code}: ${run.stderr.trim()}`);
        wall[key].push(run.ms);
        cpu[key].push(run.cpuMs);
      }
    }
  } finally {
    await coordinator.stop();
  }
  const overBare = (times: { bare: number[] } & Record<Case['key'], number[]>, key: Case['key']) => spread(times[key].map((ms, i) => ms - times.bare[i]!));
  const mark = (over: Spread) => `${cell(over)} ${over.median <= CLI_START_TARGET_MS ? '✓' : '✗'}`;
  const rows: [string, string, string][] = [];
  for (const [what, times] of [['wall, spawn to exit', wall], ['CPU of the process (user + system)', cpu]] as const) {
    rows.push([what, '', ''], ['  bare Node.js (node -e 0)', cell(spread(times.bare)), '']);
    for (const { key, label } of cases) {
      rows.push([`  ${label}`, cell(spread(times[key])), '']);
      rows.push(key === 'deploy' ? ['    over bare Node.js, per round', mark(overBare(times, key)), `≤ ${CLI_START_TARGET_MS} ms`] : ['    over bare Node.js, per round', cell(overBare(times, key)), '']);
    }
  }
  rows.push(['inside POST /v1/deploys (the coordinator)', cell(spread(coordinator.createMs)), '']);
  process.stdout.write(
    `grapevine start-up, ${new Date().toISOString()} (${cpus().length} CPUs, Node ${process.version}; ${runs} rounds, each a fresh process timed spawn to exit)\n` +
      `Each cell: median [min–max] in ms.\n\n` +
      rows.map(([label, value, target]) => `  ${label.padEnd(46)} ${value.padEnd(24)} ${target}`).join('\n') +
      '\n',
  );
  if (json) writeFileSync(json, `${JSON.stringify({ runs, nodeVersion: process.version, targetMs: CLI_START_TARGET_MS, wallMs: wall, cpuMs: cpu, createMs: coordinator.createMs }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`cli-start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = EXIT_FAILED;
});
