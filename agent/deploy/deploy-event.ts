// Decides whether a forwarded Serf event is a deploy this host must run.
import { DeployEventPayload, describeIssues } from '../../shared/contract/schemas.js';

export type EventDecision =
  | { kind: 'run'; payload: DeployEventPayload }
  | { kind: 'ignore'; reason: string }
  | { kind: 'invalid'; reason: string };

export interface HostIdentity {
  env: string;
  roles: readonly string[];
}

export function decideDeployEvent(
  eventName: string,
  rawPayload: string,
  host: HostIdentity,
  alreadyHandled: (deployId: string) => boolean,
): EventDecision {
  if (eventName !== 'deploy') return { kind: 'ignore', reason: `event ${eventName} is not a deploy` };
  let json: unknown;
  try {
    json = JSON.parse(rawPayload);
  } catch {
    return { kind: 'invalid', reason: 'payload is not JSON' };
  }
  const parsed = DeployEventPayload.safeParse(json);
  if (!parsed.success) return { kind: 'invalid', reason: `payload: ${describeIssues(parsed.error)}` };
  const payload = parsed.data;
  if (payload.env !== host.env) return { kind: 'ignore', reason: `for environment ${payload.env}` };
  if (!host.roles.includes(payload.role)) return { kind: 'ignore', reason: `for role ${payload.role}` };
  if (alreadyHandled(payload.id)) return { kind: 'ignore', reason: `deploy ${payload.id} already handled` };
  return { kind: 'run', payload };
}
