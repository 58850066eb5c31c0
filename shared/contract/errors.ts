// Every failure a caller can act on has its own class and a stable string code.

export class GrapevineError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input that does not match its schema: a payload, a body, a config file, a name. */
export class ValidationError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_input', message, options);
  }
}

export class ConfigError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_config', message, options);
  }
}

export class NotFoundError extends GrapevineError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** The request is well formed but the state forbids it (a broken tag, an unpublished tag). */
export class ConflictError extends GrapevineError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** A service Grapevine depends on (coordinator, Redis, Serf, Docker, HAProxy) did not answer. */
export class UnreachableError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unreachable', message, options);
  }
}

/** A wait ran past its deadline: a service that never came up, a condition never met. */
export class TimeoutError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('timed_out', message, options);
  }
}

export class UnauthorizedError extends GrapevineError {
  constructor(message = 'missing or wrong token') {
    super('unauthorized', message);
  }
}

/** A known credential asked for something outside its scope (or, for a host, outside its own part). */
export class ForbiddenError extends GrapevineError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** A step of a host's deploy failed: pull, start, health check, load balancer. */
export class DeployStepError extends GrapevineError {
  readonly step: string;
  constructor(step: string, message: string, options?: { cause?: unknown }) {
    super('deploy_step_failed', message, options);
    this.step = step;
  }
}

/** The host lost its slot lock while it deployed (renewal failed or the key was taken). */
export class LockLostError extends GrapevineError {
  constructor(message: string) {
    super('lock_lost', message);
  }
}

/** The release was marked broken, so this host stands down. */
export class ReleaseBrokenError extends GrapevineError {
  readonly reason: string;
  constructor(reason: string) {
    super('release_broken', `release marked broken: ${reason}`);
    this.reason = reason;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'message' in error) return String(error.message);
  return String(error);
}
