import type { SerfRpcClient } from './serf-rpc-client.js';
import type { DeployEventPayload, RetireEventPayload } from '../contract/schemas.js';
import { GrapevineError } from '../contract/errors.js';
import type { DeployEvents } from '../ports/membership.js';

// Serf refuses user events over 512 bytes including the name and its encoding.
const MAX_PAYLOAD_BYTES = 476;

/** Fires deploy events into the fleet through the coordinator's own Serf agent. */
export class SerfDeployEvents implements DeployEvents {
  constructor(private readonly serf: Pick<SerfRpcClient, 'event'>) {}

  fireDeploy(payload: DeployEventPayload): Promise<void> {
    return this.#fire('deploy', payload);
  }

  /** Tells a blue/green group's hosts to stop the colour its traffic left (README, "Blue/green"). */
  fireRetire(payload: RetireEventPayload): Promise<void> {
    return this.#fire('retire', payload);
  }

  async #fire(name: string, payload: object): Promise<void> {
    const text = JSON.stringify(payload);
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
      throw new GrapevineError('payload_too_large', `${name} event payload is ${Buffer.byteLength(text)} bytes; Serf allows ${MAX_PAYLOAD_BYTES}`);
    }
    await this.serf.event(name, text);
  }
}
