// `POST /v1/deploys` on its own, for `grapevine deploy`, which CI runs on every build: the full
// client (coordinator-client.ts) builds the schema of every answer it reads when it loads,
// which was most of the command's start-up. The same request as the client's createDeploy
// (headers, idempotency key, the list of coordinators, errors), with the answer checked by
// hand for what the command prints (id, role, env, tag): no zod on this path.
import type * as z from 'zod';
import { DEPLOY_ID_RULE, keeps, ROLE_RULE, TAG_RULE, type NameRule } from '../contract/name-rules.js';
import type { CreateDeployBody } from '../contract/schemas.js';
import type { CoordinatorClientOptions } from './coordinator-client.js';
import { CoordinatorCaller, unexpectedAnswer } from './coordinator-call.js';

/** The started deploy as far as `grapevine deploy` prints it; its other fields are kept as sent. */
export interface StartedDeploy {
  id: string;
  role: string;
  env: string;
  tag: string;
  [field: string]: unknown;
}

const CHECKED: ReadonlyArray<readonly [keyof StartedDeploy & string, NameRule]> = [
  ['id', DEPLOY_ID_RULE],
  ['role', ROLE_RULE],
  ['env', ROLE_RULE],
  ['tag', TAG_RULE],
];

/** Creates a deploy; every failure a GrapevineError (as the client's), an answer without a started deploy too. */
export async function createDeployCall(options: CoordinatorClientOptions, body: CreateDeployBody): Promise<StartedDeploy> {
  const { json, url } = await new CoordinatorCaller(options).answer('POST', '/v1/deploys', body);
  const problem = startedDeployProblem(json);
  if (problem !== undefined) throw unexpectedAnswer('POST', url, problem);
  return json as StartedDeploy;
}

/** The same create with the answer parsed by `schema`: `--json` prints the whole Deploy as its schema reads it. */
export function createDeployParsed<T>(options: CoordinatorClientOptions, body: CreateDeployBody, schema: z.ZodType<T>): Promise<T> {
  return new CoordinatorCaller(options).call('POST', '/v1/deploys', schema, body);
}

/** What is wrong with an answer that should be a started deploy, each field named; undefined when nothing. */
export function startedDeployProblem(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return '(root) expected an object';
  const fields = json as Record<string, unknown>;
  const problems = CHECKED.filter(([field, rule]) => !keeps(rule, fields[field])).map(
    ([field, rule]) => `${field} ${typeof fields[field] === 'string' ? rule.message : 'expected a string'}`,
  );
  return problems.length > 0 ? problems.join('; ') : undefined;
}
