// `--json --wait`: one JSON object per line (NDJSON) on stdout, for machines. Each host step
// and each host's end once, in time order, as `host.step` and `host.ended` events; the last
// line is `{"event":"deploy.finished","deploy":{...}}` with the whole ended record.
import type { Deploy } from '../../shared/contract/schemas.js';
import type { ProgressView } from '../deploy-watch.js';
import { HOLD_BACK_MS, HostEvents, type HostEvent } from './host-events.js';

/** The last line of `--json --wait`. */
export interface DeployFinishedEvent {
  event: 'deploy.finished';
  deploy: Deploy;
}

export type ProgressEvent = HostEvent | DeployFinishedEvent;

export class NdjsonProgress implements ProgressView {
  private readonly events = new HostEvents();

  constructor(
    private readonly write: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  update(deploy: Deploy): void {
    for (const event of this.events.take(deploy, this.now() - HOLD_BACK_MS)) this.emit(event);
  }

  end(deploy: Deploy): void {
    for (const event of this.events.take(deploy, Number.POSITIVE_INFINITY)) this.emit(event);
    this.emit({ event: 'deploy.finished', deploy });
  }

  abandon(): void {}

  private emit(event: ProgressEvent): void {
    this.write(JSON.stringify(event));
  }
}
