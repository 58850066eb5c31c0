// `POST /v1/deploys` on its own, for `grapevine deploy`, which CI runs on every build: the full
// client (coordinator-client.ts) builds the schema of every answer it reads when it loads,
// which was most of the command's start-up. The same request as the client's createDeploy
// (headers, idempotency key, the list of coordinators, errors), with the answer checked by the
// schema the caller passes: by default only what the command prints (id, role, env, tag).
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import * as z from 'zod';
import { GrapevineError } from '../contract/errors.js';
import { deployId, envName, releaseTag, roleName } from '../contract/names.js';
import { describeIssues } from '../contract/parse-input.js';
import type { CreateDeployBody } from '../contract/schemas.js';
import { readCaFile } from '../http/ca-file.js';
import { parseJson } from '../http/http-exchange.js';
import type { CoordinatorClientOptions } from './coordinator-client.js';
import { CoordinatorEndpoints, errorFor } from './coordinator-transport.js';

/** The started deploy as far as `grapevine deploy` prints it; its other fields are kept as sent. */
export const StartedDeploy = z.looseObject({ id: deployId, role: roleName, env: envName, tag: releaseTag });
export type StartedDeploy = z.infer<typeof StartedDeploy>;

/** Creates a deploy; the answer is parsed with `schema`, every failure a GrapevineError (as the client's). */
export async function createDeployCall<T = StartedDeploy>(
  { url, token, timeoutMs = 10_000, caFile }: CoordinatorClientOptions,
  body: CreateDeployBody,
  schema: z.ZodType<T> = StartedDeploy as unknown as z.ZodType<T>,
): Promise<T> {
  const endpoints = new CoordinatorEndpoints(url);
  const https = endpoints.urls.some((base) => base.startsWith('https:'));
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true, ...(https && caFile ? { ca: readCaFile(caFile) } : {}) }) };
  const trusted = caFile ? `the CAs in ${caFile}` : "Node.js's public CAs (no CA file given: --ca-file, GRAPEVINE_CA_FILE or caFile)";
  const method = 'POST';
  // One key for the call, the same on every coordinator it is tried on: a retried create that
  // reached a coordinator before it died gives back that deploy, not a second one.
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json', 'idempotency-key': randomUUID() };
  const answer = await endpoints.exchange({ method, path: '/v1/deploys', headers, body: JSON.stringify(body), timeoutMs, agents, trusted });
  const json = answer.status === 204 ? null : parseJson(answer.text);
  if (answer.status < 200 || answer.status > 299) throw errorFor(answer.status, json, answer.text, `${method} ${answer.url}`);
  const result = schema.safeParse(json);
  if (!result.success) throw new GrapevineError('coordinator_error', `unexpected answer to ${method} ${answer.url}: ${describeIssues(result.error)}`);
  return result.data;
}
