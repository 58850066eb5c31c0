// The program Serf runs for each `deploy` event. Serf runs handlers one at a time with
// no timeout, so this only hands the event to the agent's socket and exits.
import { connect } from 'node:net';

const HANDOFF_TIMEOUT_MS = 2_000;
const MAX_PAYLOAD_BYTES = 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function main(): Promise<number> {
  const socketPath = process.argv[2];
  if (!socketPath) {
    process.stderr.write('usage: event-handler SOCKET\n');
    return 2;
  }
  const message = JSON.stringify({
    event: process.env.SERF_USER_EVENT ?? '',
    ltime: process.env.SERF_USER_LTIME ?? '',
    payload: await readStdin(),
  });
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const timer = setTimeout(() => {
      process.stderr.write(`grapevine agent did not take the event within ${HANDOFF_TIMEOUT_MS} ms\n`);
      socket.destroy();
      resolve(1);
    }, HANDOFF_TIMEOUT_MS);
    socket.on('connect', () => socket.end(`${message}\n`));
    socket.on('error', (error) => {
      clearTimeout(timer);
      process.stderr.write(`cannot reach grapevine agent at ${socketPath}: ${error.message}\n`);
      resolve(1);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(0);
    });
  });
}

process.exitCode = await main();
