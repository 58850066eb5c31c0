// The character rules of the names the CLI sends, without zod: `grapevine deploy`, which CI
// runs on every build, checks its input with these before loading anything else, and names.ts
// builds the schemas from the same rules, so the two can never disagree.

export interface NameRule {
  readonly pattern: RegExp;
  /** Said after the field's name when a value breaks the rule. */
  readonly message: string;
}

// Names end up in Serf tag filters, Redis keys, compose project names and HAProxy
// server names, so they are held to a character set that is safe in all of them.
export const ROLE_RULE: NameRule = { pattern: /^[a-z][a-z0-9-]{0,31}$/, message: 'must be 1-32 characters of a-z, 0-9 and -, starting with a letter' };
export const NODE_RULE: NameRule = { pattern: /^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/, message: 'must be 1-63 characters of letters, digits and -' };
export const TAG_RULE: NameRule = { pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, message: 'must be a Docker tag: letters, digits, _ . - (at most 128)' };
/** A cluster of a role's hosts (`red`, `white`): a Serf tag, a part of a backend name (routing.ts). */
export const CLUSTER_RULE: NameRule = ROLE_RULE;
export const DEPLOY_ID_RULE: NameRule = { pattern: /^d-[a-z0-9]{6,40}$/, message: 'must look like d-<letters and digits>' };

export const STRATEGIES = ['rolling', 'canary', 'blue-green'] as const;

/** Whether `value` is a string that keeps `rule`. */
export function keeps(rule: NameRule, value: unknown): value is string {
  return typeof value === 'string' && rule.pattern.test(value);
}
