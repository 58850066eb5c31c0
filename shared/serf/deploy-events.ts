import type { SerfCli } from './serf-cli.js';
import type { DeployEventPayload } from '../contract/schemas.js';
import { GrapevineError } from '../contract/errors.js';
import type { DeployEvents } from '../ports/membership.js';

// Serf refuses user events over 512 bytes including the name and its encoding.
const MAX_PAYLOAD_BYTES = 476;

/** Fires deploy events into the fleet through the coordinator's own Serf agent. */
export class SerfDeployEvents implements DeployEvents {
  constructor(private readonly serf: SerfCli) {}

  async fireDeploy(payload: DeployEventPayload): Promise<void> {
    const text = JSON.stringify(payload);
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
      throw new GrapevineError('payload_too_large', `deploy event payload is ${Buffer.byteLength(text)} bytes; Serf allows ${MAX_PAYLOAD_BYTES}`);
    }
    await this.serf.event('deploy', text);
  }
}
