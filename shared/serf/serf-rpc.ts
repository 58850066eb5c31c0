// One conversation with a Serf agent over its RPC port (MessagePack over TCP): the
// handshake, the token, then one command. Talking to the agent directly keeps what a
// command carries (a gossip key) off every command line.
import { Socket } from 'node:net';
import { decodeMultiStream, encode } from '@msgpack/msgpack';
import { GrapevineError, TimeoutError, UnreachableError, errorMessage } from '../contract/errors.js';
import { TIMED_OUT, within } from '../contract/waiting.js';

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

/** A command's request body: a map of Serf's field names (Key, AuthKey, Version) to values. */
export type RpcRequest = Record<string, string | number | boolean>;

export interface SerfRpcAnswer {
  /** Serf's own error for the command, empty when it succeeded. */
  error: string;
  body: Record<string, unknown> | undefined;
}

/** Opens a connection, authenticates, sends `command` and returns the agent's answer; the connection is closed after. */
export async function serfRpcCall(options: SerfRpcOptions, command: string, body: RpcRequest | undefined, hasBody: boolean): Promise<SerfRpcAnswer> {
  const socket = new Socket();
  const conversation = (async () => {
    await open(socket, options.address);
    const answers = new AnswerReader(socket);
    let seq = 0;
    const send = async (name: string, request: RpcRequest | undefined, withBody: boolean): Promise<SerfRpcAnswer> => {
      // The agent's codec (go-msgpack, WriteExt) reads the library's str8 strings into its string fields.
      const header = encode({ Command: name, Seq: seq++ });
      socket.write(request === undefined ? header : Buffer.concat([header, encode(request)]));
      return answers.read(withBody);
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

/**
 * The agent's answers off a stream of chunks: a header, then a body when the command has
 * one and the header's error does not rule it out. One decoder spans the whole stream, so
 * a body that arrives with its header, or a value cut across chunks, is read whole.
 */
export class AnswerReader {
  private readonly values: AsyncGenerator<unknown, void, unknown>;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.values = decodeMultiStream(chunks);
  }

  async read(withBody: boolean): Promise<SerfRpcAnswer> {
    const header = await this.next();
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('the agent sent something other than a response header');
    const error = 'Error' in header && typeof header.Error === 'string' ? header.Error : '';
    const body = withBody && !BODYLESS_ERRORS.has(error) ? ((await this.next()) as Record<string, unknown>) : undefined;
    return { error, body };
  }

  /** Waits for the next whole value; a socket error, the agent closing or the caller's deadline ends the wait. */
  private async next(): Promise<unknown> {
    const { value, done } = await this.values.next();
    if (done) throw new Error('the agent closed the connection');
    return value;
  }
}
