import { GrapevineError } from '../shared/contract/errors.js';

/** The local cluster cannot come up or be reached: a missing prerequisite, a cluster already recorded, a part that did not start. */
export class DevClusterError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('dev_cluster', message, options);
  }
}
