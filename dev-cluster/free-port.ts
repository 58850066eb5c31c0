// Ports for the local cluster's services and the tests' servers. A port the kernel hands out
// for listen(0) comes from the ephemeral range, the same range it picks outgoing connections'
// local ports from: in the seconds between choosing a port and the service binding it, any
// connection on the machine may take it (a coordinator's Serf agent failed to start that way).
// So ports are chosen below that range, where the kernel never picks on its own, and each
// process (a test worker, a CLI) draws from a band of its own, so two clusters starting at
// once do not choose the same port.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 10_000;
const BANDS = 8;
const TRIES = 200;
const handedOut = new Set<number>();

/** A TCP port nobody listens on right now, outside the kernel's ephemeral range. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { first, size } = band();
  for (let i = 0; i < TRIES; i += 1) {
    const port = first + Math.floor(Math.random() * size);
    if (handedOut.has(port)) continue;
    if (await canListen(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${first}-${first + size - 1} after ${TRIES} tries`);
}

/** Whether nothing listens on `port` on any address: a service of a fixed port would otherwise talk to whoever holds it. */
export async function isPortFree(port: number): Promise<boolean> {
  return canListen(port, '0.0.0.0');
}

async function canListen(port: number, host: string): Promise<boolean> {
  const server = net.createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (listening) await new Promise((resolve) => server.close(resolve));
  return listening;
}

function band(): { first: number; size: number } {
  const size = Math.floor((ephemeralStart() - LOWEST) / BANDS);
  // Vitest numbers its workers from 1; any other process takes a band by its id.
  const index = Number(process.env.VITEST_POOL_ID ?? process.pid) % BANDS;
  return { first: LOWEST + index * size, size };
}

function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + BANDS * 100 ? first : 32_768;
  } catch {
    return 32_768;
  }
}
