// The fleet bench's coordinators: one process, or two over the same Redis as README "Two
// coordinators" runs them. The first makes the hosts' credentials and runs the watchdog (the
// lease holder's work) and is the one the bench deploys through; the second only serves.
// Agents given both ask first the one their host name picks, so each serves about half.
import { join } from 'node:path';
import type { CoordinatorCommand, CoordinatorReply, CoordinatorSample, CoordinatorStart } from './fleet-messages.js';
import { ChildChannel } from './fleet-processes.js';

type Channel = ChildChannel<CoordinatorCommand, CoordinatorReply>;

export interface StartedCoordinators {
  /** Each coordinator's URL, the first first. */
  urls: string[];
  hostTokens: string[];
  warmUpTokens: string[];
}

export class FleetCoordinators {
  private readonly channels: Channel[];

  /** `onUnasked` gets what a coordinator says unasked: the deploy events its sink hands out. */
  constructor(count: number, onUnasked: (reply: CoordinatorReply) => void) {
    this.channels = Array.from({ length: count }, (_, i) => new ChildChannel<CoordinatorCommand, CoordinatorReply>(i === 0 ? 'the fleet coordinator' : `fleet coordinator ${i + 1}`, './fleet-coordinator.js', onUnasked));
  }

  /** Starts the first (it makes the credentials), then the others; resolves once each serves. */
  async start(command: Omit<CoordinatorStart, 'type' | 'logFile' | 'second'>, dir: string, timeoutMs: number): Promise<StartedCoordinators> {
    const urls: string[] = [];
    let tokens: { hostTokens: string[]; warmUpTokens: string[] } | undefined;
    for (const [i, channel] of this.channels.entries()) {
      channel.send({ type: 'start', ...command, logFile: join(dir, i === 0 ? 'coordinator.log' : `coordinator-${i + 1}.log`), ...(i === 0 ? {} : { second: true }) });
      const ready = await channel.next('ready', timeoutMs);
      if (ready.type !== 'ready') throw new Error(`${i === 0 ? 'the coordinator' : `coordinator ${i + 1}`} answered out of turn`);
      urls.push(ready.url);
      tokens ??= { hostTokens: ready.hostTokens, warmUpTokens: ready.warmUpTokens };
    }
    return { urls, ...(tokens ?? { hostTokens: [], warmUpTokens: [] }) };
  }

  /** Each coordinator's CPU, RSS peak since the last sample and requests so far, in order. */
  async sample(): Promise<CoordinatorSample[]> {
    return Promise.all(
      this.channels.map(async (channel) => {
        const sampled = channel.next('sample', 10_000);
        channel.send({ type: 'sample' });
        return (await sampled) as CoordinatorSample;
      }),
    );
  }

  stop(): Promise<void> {
    return Promise.all(this.channels.map((channel) => channel.stop({ type: 'stop' }))).then(() => undefined);
  }
}
