// Feature flags on the coordinator's app: OFREP under /envs/:env (outside /v1, since a
// provider's base URL is /envs/ENV) behind the same bearer tokens, and the management API.
import type { Hono } from 'hono';
import type { CredentialVerifier } from '../../shared/ports/credentials.js';
import { jsonBodyLimit } from '../../shared/http/request-validation.js';
import { authenticate, type CoordinatorEnv } from '../auth/authenticate.js';
import { registerFlagRoutes, type FlagRouteDeps } from './flag-routes.js';
import { registerOfrepRoutes } from './ofrep-routes.js';

export interface FlagApiDeps extends FlagRouteDeps {
  bootstrapToken: string;
  verifier: CredentialVerifier;
  maxBodyBytes: number;
}

export function registerFlagApi(app: Hono<CoordinatorEnv>, deps: FlagApiDeps): void {
  app.use('/envs/*', authenticate({ bootstrapToken: deps.bootstrapToken, verifier: deps.verifier }), jsonBodyLimit(deps.maxBodyBytes));
  registerOfrepRoutes(app, { flags: deps.flags });
  registerFlagRoutes(app, deps);
}
