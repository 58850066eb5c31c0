// Opening the TCP connection to a Serf agent's RPC port, bounded in time.
import type { Socket } from 'node:net';

/** Connects `socket` to `address` (host:port), or rejects after `timeoutMs`. */
export function connectWithin(socket: Socket, address: string, timeoutMs: number): Promise<void> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('error', reject);
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)) }, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve();
    });
  });
}
