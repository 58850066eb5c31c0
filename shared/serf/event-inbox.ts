// The agent's end of the Serf hand-off: a named pipe that Serf's deploy handler writes
// each event's payload into. Serf runs handlers one at a time through /bin/sh with no
// timeout, so the handler is `timeout 2 dd ... of=PIPE`: no interpreter to start (a
// Node.js handler cost ~100 ms of CPU per host per event), bounded if the agent is down.
import { closeSync, constants, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import type { Logger } from '../contract/logger.js';

export interface ForwardedEvent {
  event: string;
  payload: string;
}

const HANDOFF_TIMEOUT_SECONDS = 2;
// Serf's own limit is 512 bytes per event; anything longer is not a Serf payload.
const MAX_LINE_BYTES = 4096;
const SHELL_SAFE_PATH = /^\/[A-Za-z0-9._/@+-]+$/;

/** Events other than `deploy` reach the pipe as a line `<name> <payload>`; a deploy payload (JSON) is the whole line. */
export const NAMED_EVENTS = ['retire'] as const;
export type NamedEvent = (typeof NAMED_EVENTS)[number];

/** The command Serf runs for deploy events; Serf passes it to /bin/sh, so the path is checked. */
export function deployHandlerCommand(pipe: string): string {
  if (!SHELL_SAFE_PATH.test(pipe)) throw new Error(`event pipe path ${pipe} has characters a shell would interpret`);
  return `timeout ${HANDOFF_TIMEOUT_SECONDS} dd bs=${MAX_LINE_BYTES} of=${pipe} status=none`;
}

/** The command Serf runs for `user:<event>`: the event's name, a space, then its payload, into the same pipe. */
export function namedEventHandlerCommand(event: NamedEvent, pipe: string): string {
  return `{ printf '${event} '; cat; } | ${deployHandlerCommand(pipe)}`;
}

export class EventInbox {
  private reader: Socket | undefined;
  private buffered = '';
  /** Set while the rest of a line over MAX_LINE_BYTES is still arriving, to be dropped with its start. */
  private dropping = false;

  constructor(
    private readonly pipePath: string,
    private readonly onEvent: (event: ForwardedEvent) => void,
    private readonly logger: Logger,
  ) {}

  listen(): void {
    mkdirSync(dirname(this.pipePath), { recursive: true, mode: 0o700 });
    rmSync(this.pipePath, { force: true });
    execFileSync('mkfifo', ['-m', '600', this.pipePath]);
    if (!statSync(this.pipePath).isFIFO()) throw new Error(`${this.pipePath} is not a named pipe`);
    // Read-write keeps a writer open, so the pipe never reports end-of-file between events.
    const fd = openSync(this.pipePath, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      this.reader = new Socket({ fd, readable: true, writable: false });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.reader.setEncoding('utf8');
    this.reader.on('data', (chunk: string) => this.take(chunk));
    this.reader.on('error', (error) => this.logger.error({ err: error.message }, 'event pipe failed'));
  }

  close(): void {
    this.reader?.destroy();
    this.reader = undefined;
    rmSync(this.pipePath, { force: true });
  }

  private take(chunk: string): void {
    const lines = (this.buffered + chunk).split('\n');
    this.buffered = lines.pop() ?? '';
    for (const line of lines) {
      // The end of a line whose start was dropped as too long: none of it is an event.
      if (this.dropping) {
        this.dropping = false;
        continue;
      }
      this.hand(line);
    }
    if (Buffer.byteLength(this.buffered) > MAX_LINE_BYTES) {
      if (!this.dropping) this.logger.warn({ bytes: Buffer.byteLength(this.buffered) }, 'dropping an oversized event');
      this.dropping = true;
      this.buffered = '';
    }
  }

  private hand(line: string): void {
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
      this.logger.warn({ bytes: Buffer.byteLength(line) }, 'dropping an oversized event');
      return;
    }
    const payload = line.trim();
    if (payload === '') return;
    const named = NAMED_EVENTS.find((event) => payload.startsWith(`${event} `));
    // Any other line is a deploy payload, as the deploy handler writes it.
    if (named) this.onEvent({ event: named, payload: payload.slice(named.length + 1) });
    else this.onEvent({ event: 'deploy', payload });
  }
}
