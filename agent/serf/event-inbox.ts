// The agent's end of the hand-off: a local socket that receives the events Serf's
// handler forwards, one JSON line per connection.
import { createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import type { Logger } from '../../shared/logger.js';

export interface ForwardedEvent {
  event: string;
  ltime: string;
  payload: string;
}

const MAX_LINE_BYTES = 4096;

export class EventInbox {
  private server: Server | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly onEvent: (event: ForwardedEvent) => void,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        data += chunk;
        if (data.length > MAX_LINE_BYTES) {
          this.logger.warn({ bytes: data.length }, 'dropping oversized event hand-off');
          socket.destroy();
        }
      });
      socket.on('end', () => {
        socket.end();
        this.accept(data);
      });
      socket.on('error', (error) => this.logger.warn({ err: error }, 'event hand-off connection failed'));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private accept(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.logger.warn({ line: line.slice(0, 200) }, 'event hand-off is not JSON; dropped');
      return;
    }
    const candidate = parsed as Partial<ForwardedEvent>;
    if (typeof candidate.event !== 'string' || typeof candidate.payload !== 'string') {
      this.logger.warn('event hand-off lacks event or payload; dropped');
      return;
    }
    this.onEvent({ event: candidate.event, ltime: String(candidate.ltime ?? ''), payload: candidate.payload });
  }
}
