// The agent's intake of Serf user events: a `stream` subscription on the persistent RPC
// connection, so an event costs each host one record on a socket already open instead of
// a shell, `timeout` and `dd` started by Serf's handler (see bench/serf-event-cpu.ts).
// Serf delivers a user event to the streams subscribed when it arrives: one fired while
// the stream is down (the Serf agent restarting) is not replayed to it, which is why the
// stream tells the agent when it is back (onResumed), and the agent reconciles then.
import type { Logger } from '../contract/logger.js';
import type { SerfRpcConnection, SerfStreamHandle } from './serf-rpc-connection.js';

export interface ForwardedEvent {
  event: string;
  payload: string;
}

/** The user events the agent acts on. */
export const STREAMED_EVENTS = ['deploy', 'retire'] as const;
/** Serf refuses user events over 512 bytes with the name; anything longer did not come from Serf. */
const MAX_PAYLOAD_BYTES = 512;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface SerfEventStreamOptions {
  connection: SerfRpcConnection;
  onEvent: (event: ForwardedEvent) => void;
  /** The stream was down (connection lost) and is subscribed again: events of the gap are lost. */
  onResumed?: () => void;
  logger: Logger;
}

/** Subscribes; resolves once Serf has taken the subscription, with the handle that ends it. */
export function streamUserEvents(options: SerfEventStreamOptions): Promise<SerfStreamHandle> {
  const { connection, onEvent, onResumed, logger } = options;
  const log = logger.child({ component: 'serf-events' });
  const type = STREAMED_EVENTS.map((name) => `user:${name}`).join(',');
  return connection.stream(
    type,
    (record) => {
      const event = forwardedEvent(record);
      if ('ignored' in event) log.warn({ reason: event.ignored }, 'ignored a Serf event');
      else onEvent(event);
    },
    onResumed,
  );
}

/** A stream record as the agent's event decision takes it, or why it is no event of ours. */
export function forwardedEvent(record: Record<string, unknown>): ForwardedEvent | { ignored: string } {
  const { Event, Name, Payload } = record;
  if (Event !== 'user') return { ignored: `not a user event (${String(Event)})` };
  if (typeof Name !== 'string' || !(STREAMED_EVENTS as readonly string[]).includes(Name)) return { ignored: `event name ${JSON.stringify(Name)} is not one the agent takes` };
  if (!(Payload instanceof Uint8Array)) return { ignored: `${Name} event without a payload` };
  if (Payload.byteLength > MAX_PAYLOAD_BYTES) return { ignored: `${Name} event payload of ${Payload.byteLength} bytes is over ${MAX_PAYLOAD_BYTES}` };
  let payload: string;
  try {
    payload = utf8.decode(Payload);
  } catch {
    return { ignored: `${Name} event payload is not UTF-8 text` };
  }
  return { event: Name, payload: payload.trim() };
}
