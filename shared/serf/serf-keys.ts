// The Serf cluster's gossip keyring through the RPC of one agent (the coordinator's):
// install, use, remove and list keys on every member. The key and the RPC token travel
// only inside the RPC connection (the process's persistent one), never on a `serf keys` command line.
import * as z from 'zod';
import { GrapevineError, errorMessage } from '../contract/errors.js';
import type { KeyringAnswer, SerfKeyring } from '../ports/serf-keyring.js';
import type { SerfRpcAnswer } from './serf-rpc.js';
import { SerfRpcConnection } from './serf-rpc-connection.js';

/** A key query waits for every member within Serf's query timeout (a few seconds); this bounds the whole call. */
const KEY_CALL_TIMEOUT_MS = 30_000;

const KeyResponse = z.object({
  Messages: z.record(z.string(), z.string()).nullable().optional(),
  Keys: z.record(z.string(), z.number()).nullable().optional(),
  NumNodes: z.number(),
  NumErr: z.number(),
  NumResp: z.number(),
});

export interface SerfRpcKeyringOptions {
  /** host:port of the agent's RPC, or the process's connection to it. */
  rpc: string | SerfRpcConnection;
  /** The RPC token, when `rpc` is an address. */
  rpcAuth?: string;
  timeoutMs?: number;
}

export class SerfRpcKeyring implements SerfKeyring {
  private readonly connection: SerfRpcConnection;

  constructor(private readonly options: SerfRpcKeyringOptions) {
    const { rpc, rpcAuth = '' } = options;
    this.connection = typeof rpc === 'string' ? new SerfRpcConnection({ address: rpc, authKey: rpcAuth }) : rpc;
  }

  install(key: string): Promise<KeyringAnswer> {
    return this.call('install-key', key);
  }

  use(key: string): Promise<KeyringAnswer> {
    return this.call('use-key', key);
  }

  remove(key: string): Promise<KeyringAnswer> {
    return this.call('remove-key', key);
  }

  list(): Promise<KeyringAnswer> {
    return this.call('list-keys', undefined);
  }

  private async call(command: string, key: string | undefined): Promise<KeyringAnswer> {
    const answer = await this.connection.request(command, key === undefined ? undefined : { Key: key }, true, this.options.timeoutMs ?? KEY_CALL_TIMEOUT_MS);
    return keyringAnswer(command, answer);
  }
}

function keyringAnswer(command: string, answer: SerfRpcAnswer): KeyringAnswer {
  const parsed = KeyResponse.safeParse(answer.body);
  if (!parsed.success) throw new GrapevineError('serf_output', `unexpected answer from serf ${command}: ${errorMessage(parsed.error)}`);
  const body = parsed.data;
  return {
    members: body.NumNodes,
    answered: body.NumResp,
    messages: body.Messages ?? {},
    errors: body.NumErr,
    keys: body.Keys ?? {},
    ...(answer.error === '' ? {} : { error: answer.error }),
  };
}
