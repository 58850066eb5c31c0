// What a simulated host has instead of Docker and HAProxy: a runtime and a load balancer
// that only take time (the host's drawn T, split over the steps as measured on real hosts),
// an in-memory record of applied deploys, and slot locks that note when the host was
// granted and gave back its slot. Everything else a host runs is the agent's real code.
import type { AppliedDeploys } from '../../agent/deploy/applied-deploys.js';
import { pause } from '../../shared/contract/waiting.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { DeployContext } from '../../shared/ports/deploy-context.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import type { BackendServer, LoadBalancer } from '../../shared/ports/load-balancer.js';
import type { AcquireOptions, AcquireResult, ReleaseOptions, SlotLease, SlotLocks } from '../../shared/ports/slot-locks.js';

/**
 * Shares of T per step, from the 12-host bench (README Performance): drain 22 ms, pull 62,
 * compose up 845, health gate 1243, register 5 of about 2.18 s.
 */
export const STEP_SHARES = { drain: 0.01, pull: 0.03, up: 0.39, health: 0.565, register: 0.005 } as const;
/**
 * A host's slot is held for T less the shorter of the drain and the pull: the agent pulls beside
 * its drain (agent/deploy/deploy-runner.ts), so the two take the longer one's time, not their sum.
 */
export const SLOT_HOLD_SHARE = 1 - Math.min(STEP_SHARES.drain, STEP_SHARES.pull);

export class TimedRuntime implements ContainerRuntime {
  private running: string | null = null;

  constructor(private readonly workMs: number) {}

  async runningImage(): Promise<string | null> {
    return this.running;
  }

  async pull(_image: string, context: DeployContext): Promise<void> {
    await pause(this.workMs * STEP_SHARES.pull, context.signal);
  }

  async up(_role: string, image: string, context: DeployContext): Promise<void> {
    await pause(this.workMs * STEP_SHARES.up, context.signal);
    this.running = image;
  }

  async stop(): Promise<void> {
    this.running = null;
  }

  async waitHealthy(_role: string, context: DeployContext): Promise<void> {
    await pause(this.workMs * STEP_SHARES.health, context.signal);
  }
}

export class TimedLoadBalancer implements LoadBalancer {
  constructor(private readonly workMs: number) {}

  async drain(_backend: string, _server: string, context?: DeployContext): Promise<void> {
    await pause(this.workMs * STEP_SHARES.drain, context?.signal);
  }

  async register(_backend: string, _server: string, _address: string, context?: DeployContext): Promise<void> {
    await pause(this.workMs * STEP_SHARES.register, context?.signal);
  }

  async servers(): Promise<BackendServer[]> {
    return [];
  }
}

export class MemoryAppliedDeploys implements AppliedDeploys {
  private readonly applied = new Map<string, number>();

  async highest(group: DeployGroup): Promise<number | undefined> {
    return this.applied.get(`${group.role}/${group.env}`);
  }

  async record(group: DeployGroup, seq: number): Promise<void> {
    const key = `${group.role}/${group.env}`;
    this.applied.set(key, Math.max(seq, this.applied.get(key) ?? seq));
  }
}

/** When a host's slot was granted and given back; filled in by ObservedSlotLocks. */
export interface SlotTimes {
  waited: boolean;
  grantedAt?: number;
  slot?: number;
  releasedAt?: number;
}

/** The real slot locks, through their public interface, with the grant and the release timed. */
export class ObservedSlotLocks implements SlotLocks {
  constructor(
    private readonly inner: SlotLocks,
    private readonly times: SlotTimes,
    private readonly now: () => number = Date.now,
  ) {}

  async acquire(options: AcquireOptions): Promise<AcquireResult> {
    const result = await this.inner.acquire({
      ...options,
      onWait: () => {
        this.times.waited = true;
        options.onWait?.();
      },
    });
    if (result.kind !== 'acquired') return result;
    this.times.grantedAt = this.now();
    this.times.slot = result.lease.slot;
    return { kind: 'acquired', lease: this.observed(result.lease) };
  }

  private observed(lease: SlotLease): SlotLease {
    const times = this.times;
    const now = this.now;
    return {
      get slot() {
        return lease.slot;
      },
      get epoch() {
        return lease.epoch;
      },
      get signal() {
        return lease.signal;
      },
      confirm: () => lease.confirm(),
      release: (options?: ReleaseOptions) => {
        // The first call's time: the moment this host began giving the slot back.
        times.releasedAt ??= now();
        return lease.release(options);
      },
    };
  }
}
