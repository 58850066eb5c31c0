// A blue/green group's old colour, once the coordinator has kept it long enough after a switch
// (Serf event `retire`): this host puts that colour's server in maintenance and stops (does
// not remove) its containers, so a later deploy into that colour starts from a quiet host.
// The agent runs it in the group's deploy lane: never during a deploy of the group here.
import { describeIssues, RetireEventPayload } from '../shared/contract/schemas.js';
import { UnreachableError, errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { backoff, retry } from '../shared/contract/waiting.js';
import type { Colour } from '../shared/contract/strategy.js';
import type { ContainerRuntime } from '../shared/ports/container-runtime.js';
import type { LoadBalancer } from '../shared/ports/load-balancer.js';
import { hasColours, instanceOf, type RoleServers } from './role-servers.js';
import type { HostIdentity } from './deploy/deploy-event.js';

export type RetireDecision =
  | { kind: 'retire'; payload: RetireEventPayload }
  | { kind: 'ignore'; reason: string }
  | { kind: 'invalid'; reason: string };

/** Whether a forwarded `retire` event is one this host acts on: its group, and a role it runs in colours. */
export function decideRetireEvent(rawPayload: string, host: HostIdentity, lb: Record<string, RoleServers>): RetireDecision {
  let json: unknown;
  try {
    json = JSON.parse(rawPayload);
  } catch {
    return { kind: 'invalid', reason: 'payload is not JSON' };
  }
  const parsed = RetireEventPayload.safeParse(json);
  if (!parsed.success) return { kind: 'invalid', reason: `payload: ${describeIssues(parsed.error)}` };
  const payload = parsed.data;
  if (payload.env !== host.env) return { kind: 'ignore', reason: `for environment ${payload.env}` };
  const servers = lb[payload.role];
  if (!servers) return { kind: 'ignore', reason: `for role ${payload.role}` };
  if (!hasColours(servers)) return { kind: 'ignore', reason: `role ${payload.role} runs without colours here` };
  return { kind: 'retire', payload };
}

export interface ColourRetirementDeps {
  node: string;
  lb: Record<string, RoleServers>;
  coordinator: { groupColour(role: string, env: string): Promise<{ live: Colour }> };
  runtime: Pick<ContainerRuntime, 'stop'>;
  loadBalancer: Pick<LoadBalancer, 'drain'>;
  logger: Logger;
  /** Pauses between tries when the coordinator does not answer; about 8 s unless given. */
  retriesMs?: readonly number[];
}

export type RetireOutcome = 'retired' | 'live' | 'failed';

/** Bounds the drain and the stop together: a host's lane must move on. */
const RETIRE_TIMEOUT_MS = 2 * 60_000;

export class ColourRetirement {
  constructor(private readonly deps: ColourRetirementDeps) {}

  /** Never throws: a colour that could not be retired is logged and left as it was. */
  async retire({ role, env, colour, id }: RetireEventPayload, agentSignal: AbortSignal): Promise<RetireOutcome> {
    const { node, lb, coordinator, runtime, loadBalancer } = this.deps;
    const logger = this.deps.logger.child({ component: 'retire', role, env, colour, deployId: id });
    const signal = AbortSignal.any([agentSignal, AbortSignal.timeout(RETIRE_TIMEOUT_MS)]);
    try {
      // Asked again here: a switch back since the event was fired made this colour live again.
      const { live } = await retry(() => coordinator.groupColour(role, env), {
        delaysMs: this.deps.retriesMs ?? backoff(250, 5),
        retryIf: (error) => error instanceof UnreachableError,
        signal,
      });
      if (live === colour) {
        logger.info('the colour to retire is live again (switched back); left running');
        return 'live';
      }
      const instance = instanceOf(node, role, lb[role]!, colour);
      await loadBalancer.drain(instance.backend, instance.server, { signal, logger });
      await runtime.stop(role, { signal, logger }, colour);
      logger.info({ server: instance.server }, 'old colour retired: in maintenance, containers stopped');
      return 'retired';
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'could not retire the old colour; it keeps running');
      return 'failed';
    }
  }
}
