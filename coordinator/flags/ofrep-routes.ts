// OpenFeature's remote evaluation protocol (OFREP, open-feature/protocol service/openapi.yaml)
// over the coordinator's flags. A provider's base URL is `<coordinator>/envs/<env>`, so its
// requests arrive at `/envs/:env/ofrep/v1/evaluate/flags[/:key]`. Bodies and status codes are
// the protocol's own, not the /v1 API's `{error: {code, message}}`: an OpenFeature SDK reads them.
import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { flagName, type OfrepFailure, type OfrepSuccess } from '../../shared/contract/flags.js';
import { envName } from '../../shared/contract/names.js';
import type { FlagStore } from '../../shared/ports/flag-store.js';
import type { Flag } from '../../shared/contract/flags.js';
import { allow, type CoordinatorEnv } from '../auth/authenticate.js';
import { evaluateFlag, readContext, type EvaluationContext } from './flag-evaluation.js';

export interface OfrepRouteDeps {
  flags: FlagStore;
}

/** Where a provider's base URL points for `env`: what the README and `flag list` print. */
export const ofrepBasePath = (env: string) => `/envs/${env}`;

type ReadBody = { ok: true; context: EvaluationContext; raw: unknown } | { ok: false; errorCode: 'PARSE_ERROR' | 'INVALID_CONTEXT'; errorDetails: string };

/** The request's context: an empty body is an empty context; JSON that does not parse is PARSE_ERROR, a context of the wrong shape INVALID_CONTEXT. */
async function readRequest(c: Context): Promise<ReadBody> {
  const text = await c.req.text();
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, errorCode: 'PARSE_ERROR', errorDetails: 'the request body is not JSON' };
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errorCode: 'PARSE_ERROR', errorDetails: 'the request body must be a JSON object: {"context": {...}}' };
  const raw = (body as { context?: unknown }).context;
  const read = readContext(raw);
  return read.ok ? { ok: true, context: read.context, raw: raw ?? {} } : { ok: false, errorCode: 'INVALID_CONTEXT', errorDetails: read.errorDetails };
}

function answerOf(flag: Flag, context: EvaluationContext): OfrepSuccess | OfrepFailure {
  const evaluation = evaluateFlag(flag, context);
  if (!evaluation.ok) return { key: flag.name, errorCode: evaluation.errorCode, errorDetails: evaluation.errorDetails };
  return { key: flag.name, value: evaluation.value, reason: evaluation.reason, variant: evaluation.variant, metadata: { flagVersion: flag.version } };
}

/** JSON with its object keys sorted, so one context always hashes alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The bulk answer's ETag: the environment's flag version and the context, since each answer depends on both. */
export function bulkEtag(version: number, context: unknown): string {
  return `"${version}-${createHash('sha256').update(canonical(context)).digest('base64url').slice(0, 16)}"`;
}

/** Whether If-None-Match (a list, weak or strong, or `*`) names `etag`. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

export function registerOfrepRoutes(app: Hono<CoordinatorEnv>, { flags }: OfrepRouteDeps): void {
  // Any credential from viewer up may read flags too; a flags-reader may read nothing else.
  const readers = allow('viewer', 'flags-reader');

  app.post('/envs/:env/ofrep/v1/evaluate/flags/:key', readers, async (c) => {
    const { env, key } = c.req.param();
    const request = await readRequest(c);
    if (!request.ok) return c.json({ key, errorCode: request.errorCode, errorDetails: request.errorDetails } satisfies OfrepFailure, 400);
    // A malformed name or environment cannot hold a flag: not found, as the protocol has no other answer for it.
    const flag = envName.safeParse(env).success && flagName.safeParse(key).success ? await flags.get(env, key) : undefined;
    if (!flag) return c.json({ key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `no flag ${key} in environment ${env}` } satisfies OfrepFailure, 404);
    const answer = answerOf(flag, request.context);
    return c.json(answer, 'errorCode' in answer ? 400 : 200);
  });

  app.post('/envs/:env/ofrep/v1/evaluate/flags', readers, async (c) => {
    const { env } = c.req.param();
    const request = await readRequest(c);
    if (!request.ok) return c.json({ errorCode: request.errorCode, errorDetails: request.errorDetails }, 400);
    const parsedEnv = envName.safeParse(env);
    if (!parsedEnv.success) return c.json({ errorCode: 'GENERAL', errorDetails: `environment ${JSON.stringify(env)} must be 1-32 characters of a-z, 0-9 and -` }, 400);
    const { flags: all, version } = await flags.list(parsedEnv.data);
    const etag = bulkEtag(version, request.raw);
    c.header('ETag', etag);
    if (matches(c.req.header('if-none-match'), etag)) return c.body(null, 304);
    return c.json({ flags: all.map((flag) => answerOf(flag, request.context)) });
  });
}
