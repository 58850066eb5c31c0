// `POST /v1/deploys` on its own, for `grapevine deploy`, which CI runs on every build: the full
// client (coordinator-client.ts) builds the schema of every answer it reads when it loads,
// which was most of the command's start-up. The same request as the client's createDeploy
// (headers, idempotency key, the list of coordinators, errors), with the answer checked by the
// schema the caller passes: by default only what the command prints (id, role, env, tag).
import * as z from 'zod';
import { deployId, envName, releaseTag, roleName } from '../contract/names.js';
import type { CreateDeployBody } from '../contract/schemas.js';
import type { CoordinatorClientOptions } from './coordinator-client.js';
import { CoordinatorCaller } from './coordinator-call.js';

/** The started deploy as far as `grapevine deploy` prints it; its other fields are kept as sent. */
export const StartedDeploy = z.looseObject({ id: deployId, role: roleName, env: envName, tag: releaseTag });
export type StartedDeploy = z.infer<typeof StartedDeploy>;

/** Creates a deploy; the answer is parsed with `schema`, every failure a GrapevineError (as the client's). */
export async function createDeployCall<T = StartedDeploy>(
  options: CoordinatorClientOptions,
  body: CreateDeployBody,
  schema: z.ZodType<T> = StartedDeploy as unknown as z.ZodType<T>,
): Promise<T> {
  return new CoordinatorCaller(options).call('POST', '/v1/deploys', schema, body);
}
