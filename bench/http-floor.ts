// The floor under the coordinator's cost per request on this machine: the CPU a server
// process spends per request when it does next to nothing, with the coordinator's own stack
// (node:http through @hono/node-server, hono, zod, ioredis) and keep-alive clients, as a
// fleet's agents send. Three handlers: an empty JSON answer; the body parsed with a small zod
// schema; the same and one HSET on a redis-server of its own. The coordinator's figure
// ("CPU per host per deploy" in the fleet table) divided by its requests per host is what
// to hold against these.
// Usage: node dist/bench/http-floor.js [--requests 4000] [--clients 8]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../dev-cluster/free-port.js';
import { TIMED_OUT, pollUntil, within } from '../shared/contract/waiting.js';
import { ChildChannel } from './fleet/fleet-processes.js';
import { HANDLERS, type FloorCommand, type FloorReply, type Handler } from './http-floor-server.js';

const WARM_UP = 500;
const STEP_TIMEOUT_MS = 120_000;

/** `promise`, or an error naming `what` after STEP_TIMEOUT_MS. */
async function inTime<T>(promise: Promise<T>, what: string): Promise<T> {
  const result = await within(promise, STEP_TIMEOUT_MS);
  if (result === TIMED_OUT) throw new Error(`${what}: no answer in ${STEP_TIMEOUT_MS / 1000} s`);
  return result as T;
}

function post(agent: http.Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const request = http.request({ host: '127.0.0.1', port, path: '/v1/reports', method: 'POST', agent, headers, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`answered ${response.statusCode}`))));
    });
    request.on('timeout', () => request.destroy(new Error('no answer in 10 s')));
    request.on('error', reject);
    request.end(body);
  });
}

/** Server CPU (user + system) per request, in microseconds, over `requests` sent by `clients` at a time after a warm-up. */
async function measure(handler: Handler, requests: number, clients: number, redisPort: number): Promise<number> {
  const port = await freePort();
  // The module path is ChildChannel's own folder's (bench/fleet/).
  const server = new ChildChannel<FloorCommand, FloorReply>(`the ${handler} server`, '../http-floor-server.js');
  const cpu = async () => {
    const answer = server.next('cpu', STEP_TIMEOUT_MS);
    server.send({ type: 'cpu' });
    const reply = await answer;
    if (reply.type !== 'cpu') throw new Error(`the ${handler} server answered ${reply.type} when asked for its CPU`);
    return reply.usage;
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  try {
    const ready = server.next('ready', STEP_TIMEOUT_MS);
    server.send({ type: 'start', handler, port, redisPort });
    await ready;
    const body = (i: number) => JSON.stringify({ host: `h${i}`, state: 'deploying', steps: [{ step: 'received', at: i }, { step: 'slot', at: i + 1 }, { step: 'pull', at: i + 2 }] });
    for (let i = 0; i < WARM_UP; i++) await post(agent, port, body(i));
    const before = await cpu();
    let next = 0;
    const clientsDone = Array.from({ length: clients }, async () => {
      for (let i = next++; i < requests; i = next++) await post(agent, port, body(i));
    });
    await inTime(Promise.all(clientsDone), `${requests} requests to the ${handler} server`);
    const after = await cpu();
    return (after.user - before.user + after.system - before.system) / requests;
  } finally {
    agent.destroy();
    await server.stop({ type: 'stop' });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '4000' }, clients: { type: 'string', default: '8' } } });
  const requests = Number(values.requests);
  const clients = Number(values.clients);
  if (!Number.isInteger(requests) || requests < 100 || requests > 1_000_000) throw new Error('--requests takes a whole number from 100 to 1000000');
  if (!Number.isInteger(clients) || clients < 1 || clients > 256) throw new Error('--clients takes a whole number from 1 to 256');
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    // A refused connection while redis-server starts is the poll's to retry, not an error to print.
    probe.on('error', () => undefined);
    await pollUntil('redis-server to answer', () => probe.connect().then(() => true, () => undefined), { timeoutMs: 10_000, intervalMs: 100 });
    probe.disconnect();
    console.log(`HTTP floor, ${new Date().toISOString()} (Node ${process.version}): server CPU per request, ${requests} requests, ${clients} keep-alive clients`);
    for (const handler of HANDLERS) console.log(`  ${handler.padEnd(12)} ${(await measure(handler, requests, clients, redisPort)).toFixed(0).padStart(6)} µs`);
  } finally {
    redis.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  console.error(`http-floor: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
