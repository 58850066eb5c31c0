// The checks of a role's health settings that need more than its own fields: its compose
// file must give the service a health check unless the role has a health URL, and its
// health gate must fit in one deploy step. Found at config load, not at deploy time.
import { readFileSync } from 'node:fs';
import { errorMessage } from './errors.js';

interface RoleHealthSettings {
  compose: string;
  service: string;
  healthUrl?: string | undefined;
  /** A blue/green role's colours, each with its own health URL or none. */
  colours?: { blue?: { healthUrl?: string | undefined } | undefined; green?: { healthUrl?: string | undefined } | undefined } | undefined;
  healthyDeadlineMs: number;
  minHealthyTimeMs: number;
}

/** Every problem found, each naming the role's field or file; empty when all is well. */
export function roleHealthProblems(
  roles: Record<string, RoleHealthSettings>,
  stepDeadlineMs: number,
  parseYaml: (text: string) => unknown,
): string[] {
  const problems: string[] = [];
  for (const [name, role] of Object.entries(roles)) {
    const at = `roles.${name}`;
    if (role.healthyDeadlineMs + role.minHealthyTimeMs > stepDeadlineMs) {
      problems.push(
        `${at}.healthyDeadlineMs with minHealthyTimeMs (${role.healthyDeadlineMs} + ${role.minHealthyTimeMs} ms) it must fit in stepDeadlineMs (${stepDeadlineMs} ms), which bounds the health step`,
      );
    }
    if (role.healthUrl !== undefined) continue;
    // Both colours share the compose file: either both have a health URL or its health check serves both.
    if (role.colours?.blue?.healthUrl !== undefined && role.colours.green?.healthUrl !== undefined) continue;
    const check = composeHealthCheck(role.compose, role.service, parseYaml);
    if (check === 'present') continue;
    problems.push(
      check === 'missing'
        ? `${at} has neither healthUrl nor a healthcheck for service "${role.service}" in ${role.compose}; give one (an image's own HEALTHCHECK cannot be seen before a deploy)`
        : `${at}.compose ${check}`,
    );
  }
  return problems;
}

/** 'present', 'missing', or why the compose file could not tell. */
function composeHealthCheck(file: string, service: string, parseYaml: (text: string) => unknown): 'present' | 'missing' | string {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    return `cannot be read to find the health check of service "${service}": ${errorMessage(error)}`;
  }
  const services = field(parsed, 'services');
  const entry = field(services, service);
  if (entry === undefined) return `${file} has no service "${service}"`;
  const healthcheck = field(entry, 'healthcheck');
  if (healthcheck === undefined || field(healthcheck, 'disable') === true) return 'missing';
  // ["NONE"] turns the image's check off, as `disable: true` does; a block without `test` tunes the image's own.
  const test = field(healthcheck, 'test');
  return Array.isArray(test) && test[0] === 'NONE' ? 'missing' : 'present';
}

function field(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return (value as Record<string, unknown>)[key];
}
