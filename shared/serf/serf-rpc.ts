// One conversation with a Serf agent over its RPC port (MessagePack over TCP): the
// handshake, the token, then one command. Talking to the agent directly keeps what a
// command carries (a gossip key) off every command line.
import { Socket } from 'node:net';
import { GrapevineError, TimeoutError, UnreachableError, errorMessage } from '../contract/errors.js';
import { TIMED_OUT, within } from '../contract/waiting.js';
import { IncompleteMessage, decode, encode, type Packable } from './msgpack.js';

const IPC_VERSION = 1;
/** Answers after which the agent sends no body, whatever the command. */
const BODYLESS_ERRORS = new Set(['Authentication required', 'Handshake required', 'Unsupported command']);

/** The agent refused a command: a wrong token, an unknown command. */
export class SerfRpcError extends GrapevineError {
  constructor(message: string) {
    super('serf_rpc', message);
  }
}

export interface SerfRpcOptions {
  /** host:port of the agent's RPC. */
  address: string;
  authKey: string;
  timeoutMs: number;
}

export interface SerfRpcAnswer {
  /** Serf's own error for the command, empty when it succeeded. */
  error: string;
  body: Record<string, unknown> | undefined;
}

/** Opens a connection, authenticates, sends `command` and returns the agent's answer; the connection is closed after. */
export async function serfRpcCall(options: SerfRpcOptions, command: string, body: Packable | undefined, hasBody: boolean): Promise<SerfRpcAnswer> {
  const socket = new Socket();
  const conversation = (async () => {
    await open(socket, options.address);
    const reader = new MessageReader(socket);
    let seq = 0;
    const send = async (name: string, request: Packable | undefined, withBody: boolean): Promise<SerfRpcAnswer> => {
      const header = encode({ Command: name, Seq: seq++ });
      socket.write(request === undefined ? header : Buffer.concat([header, encode(request)]));
      const reply = (await reader.next()) as { Error?: unknown };
      const error = typeof reply.Error === 'string' ? reply.Error : '';
      const answerBody = withBody && !BODYLESS_ERRORS.has(error) ? ((await reader.next()) as Record<string, unknown>) : undefined;
      return { error, body: answerBody };
    };
    const handshake = await send('handshake', { Version: IPC_VERSION }, false);
    if (handshake.error) throw new SerfRpcError(`serf agent on ${options.address} refused the handshake: ${handshake.error}`);
    const auth = await send('auth', { AuthKey: options.authKey }, false);
    if (auth.error) throw new SerfRpcError(`serf agent on ${options.address} refused the RPC token: ${auth.error}`);
    const answer = await send(command, body, hasBody);
    if (BODYLESS_ERRORS.has(answer.error)) throw new SerfRpcError(`serf agent on ${options.address} refused ${command}: ${answer.error}`);
    return answer;
  })();
  try {
    const outcome = await within(conversation, options.timeoutMs);
    if (outcome === TIMED_OUT) throw new TimeoutError(`serf agent on ${options.address} did not answer ${command} within ${options.timeoutMs} ms`);
    return outcome;
  } catch (error) {
    if (error instanceof GrapevineError) throw error;
    throw new UnreachableError(`serf ${command} on ${options.address} failed: ${errorMessage(error)}`, { cause: error });
  } finally {
    socket.destroy();
  }
}

function open(socket: Socket, address: string): Promise<void> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)) }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** Decodes whole values from the stream as they arrive; a closed or failed socket ends the wait. */
class MessageReader {
  private buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the agent closed the connection')));
  }

  async next(): Promise<unknown> {
    // Each turn either decodes a value or waits for bytes that a socket error, close or the caller's deadline ends.
    for (;;) {
      try {
        const { value, next } = decode(this.buffer);
        this.buffer = this.buffer.subarray(next);
        return value;
      } catch (error) {
        if (!(error instanceof IncompleteMessage)) throw error;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake?.();
  }
}
