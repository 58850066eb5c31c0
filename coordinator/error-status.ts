// Which HTTP status each of Grapevine's errors answers with, for the coordinator's API.
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ConflictError,
  ForbiddenError,
  GrapevineError,
  NotFoundError,
  UnauthorizedError,
  UnreachableError,
  ValidationError,
} from '../shared/contract/errors.js';

const CODE_STATUS: Record<string, ContentfulStatusCode> = {
  release_not_found: 404,
  image_not_found: 404,
  invalid_image: 400,
  registry_not_allowed: 400,
  registry_refused: 502,
  // Red-white routing (coordinator/routing/): a cluster the frontend does not have, and the relay's failures.
  unknown_cluster: 400,
  lb_relay_refused: 502,
  lb_relay_timed_out: 504,
  // Another change of the group held its lock past the wait (coordinator/leadership/group-lock.ts): worth another try.
  group_busy: 503,
};

export function statusOf(error: GrapevineError): ContentfulStatusCode {
  if (error instanceof ValidationError) return 400;
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof UnreachableError) return 502;
  // Codes raised as plain GrapevineErrors that are the caller's mistake, or the registry's answer.
  const byCode = CODE_STATUS[error.code];
  if (byCode !== undefined) return byCode;
  // Redis answered but refused (loading, read-only, out of memory): worth another try later.
  return error.code === 'redis_error' ? 503 : 500;
}
