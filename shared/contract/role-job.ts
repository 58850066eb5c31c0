// The check of a role's once-per-deploy job that needs more than its own fields: the compose
// file must define the job's service, apart from the role's own. Found at config load, not
// when the first deploy asks a host to run it.
import { readFileSync } from 'node:fs';
import { errorMessage } from './errors.js';

interface RoleJobSettings {
  compose: string;
  service: string;
  job?: { service: string } | undefined;
}

/** Every problem found, each naming the role's field or file; empty when all is well. */
export function roleJobProblems(roles: Record<string, RoleJobSettings>, parseYaml: (text: string) => unknown): string[] {
  const problems: string[] = [];
  for (const [name, role] of Object.entries(roles)) {
    if (!role.job) continue;
    const at = `roles.${name}.job.service`;
    if (role.job.service === role.service) {
      problems.push(`${at} must not be the role's own service "${role.service}": the job is a one-off container beside it`);
      continue;
    }
    let services: unknown;
    try {
      services = (parseYaml(readFileSync(role.compose, 'utf8')) as { services?: unknown } | null)?.services;
    } catch (error) {
      problems.push(`${at}: ${role.compose} cannot be read to find service "${role.job.service}": ${errorMessage(error)}`);
      continue;
    }
    const defined = services !== null && typeof services === 'object' && Object.hasOwn(services, role.job.service);
    if (!defined) problems.push(`${at} names "${role.job.service}", which ${role.compose} does not define`);
  }
  return problems;
}
