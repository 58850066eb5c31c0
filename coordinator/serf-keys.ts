// The Serf keyring API, for operators: list which keys the fleet's members hold (as
// fingerprints, never the keys), and rotate to a new key the caller sends. The
// coordinator's own Serf agent carries each step to every member.
import type { Hono } from 'hono';
import * as z from 'zod';
import { SERF_KEY, keyFingerprint } from '../shared/contract/gossip-key.js';
import type { Logger } from '../shared/contract/logger.js';
import { actorOf } from '../shared/ports/credentials.js';
import type { Membership } from '../shared/ports/membership.js';
import { everyMemberAnswered, type SerfKeyring } from '../shared/ports/serf-keyring.js';
import { allow, type CoordinatorEnv } from './auth/authenticate.js';
import { KeyRotationError, rotateGossipKey } from './key-rotation.js';
import { requireJson, valid } from '../shared/http/request-validation.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';

/** The key itself is never echoed in a refusal: only that it is not one. */
const RotateBody = z.strictObject({ key: z.string().regex(SERF_KEY, 'must be a key made by `serf keygen` (base64 of 16, 24 or 32 bytes)') });

export interface SerfKeyRouteDeps {
  keyring: SerfKeyring;
  membership: Membership;
  logger: Logger;
  fleetEvents: FleetEventPublisher;
}

export function registerSerfKeyRoutes(app: Hono<CoordinatorEnv>, { keyring, membership, logger, fleetEvents }: SerfKeyRouteDeps): void {
  const log = logger.child({ component: 'serf-keys' });

  app.get('/v1/serf/keys', allow('operator'), async (c) => {
    const answer = await keyring.list();
    return c.json({
      members: answer.members,
      answered: answer.answered,
      complete: everyMemberAnswered(answer),
      keys: Object.entries(answer.keys).map(([key, members]) => ({ fingerprint: keyFingerprint(key), members })),
      messages: answer.messages,
    });
  });

  app.post('/v1/serf/keys/rotate', allow('operator'), requireJson, valid('json', RotateBody), async (c) => {
    const { key } = c.req.valid('json');
    const by = actorOf(c.get('credential'));
    log.warn({ key: keyFingerprint(key), by }, 'serf key rotation started');
    try {
      const report = await rotateGossipKey({ keyring, membership }, key);
      log.warn({ ...report, by }, 'serf key rotated');
      fleetEvents.publish({ kind: 'serf.key-rotated', at: Date.now(), actor: by });
      return c.json(report);
    } catch (error) {
      if (!(error instanceof KeyRotationError)) throw error;
      log.error({ ...error.report, step: error.step, by, reason: error.message }, 'serf key rotation stopped');
      // 502: the fleet (a member that did not answer) stopped it, not the request.
      return c.json({ error: { code: error.code, message: error.message }, step: error.step, rotation: error.report }, 502);
    }
  });
}
