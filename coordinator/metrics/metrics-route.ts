// `GET /metrics` on the coordinator's API: the Prometheus exposition, for a viewer credential
// or above, which Prometheus sends as a bearer token (`authorization: { credentials_file: ... }`
// in its scrape config). It tells which deploys ran and which hosts exist: not for anyone
// who can reach the port.
import type { Hono } from 'hono';
import type { CredentialVerifier } from '../../shared/ports/credentials.js';
import { allow, authenticate, type CoordinatorEnv } from '../auth/authenticate.js';

/** What a scrape reads: the text and its content type (Prometheus's text format, version 0.0.4). */
export interface MetricsExposition {
  readonly contentType: string;
  exposition(): Promise<string>;
}

export interface MetricsRouteDeps {
  metrics: MetricsExposition;
  /** The config's token: the bootstrap operator may scrape too. */
  bootstrapToken: string;
  verifier: CredentialVerifier;
}

export function registerMetricsRoute(app: Hono<CoordinatorEnv>, { metrics, bootstrapToken, verifier }: MetricsRouteDeps): void {
  app.get('/metrics', authenticate({ bootstrapToken, verifier }), allow('viewer'), async (c) => {
    const text = await metrics.exposition();
    return c.body(text, 200, { 'content-type': metrics.contentType });
  });
}
