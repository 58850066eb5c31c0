// The token API's bodies and answers (`POST/GET /v1/tokens`, `DELETE /v1/tokens/:id`), shared by the coordinator and the CLI.
import * as z from 'zod';
import { SCOPES } from '../ports/credentials.js';
import { DURATION_PATTERN } from './duration.js';
import { nodeName } from './names.js';

export const credentialId = z.string().regex(/^t-[a-f0-9]{8}$/, 'must look like t-<8 hex digits>');
export const credentialName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'must be 1-64 characters of letters, digits and . _ @ -, starting with a letter or digit');

export const Credential = z.object({
  id: z.string().min(1).max(64),
  scope: z.enum(SCOPES),
  host: nodeName.optional(),
  name: z.string().min(1).max(64),
  createdAt: z.number(),
  createdBy: z.string().max(300),
  expiresAt: z.number().optional(),
});

/** Body of `POST /v1/tokens`: a host credential names its host; no other scope may. */
export const CreateTokenBody = z
  .object({
    scope: z.enum(SCOPES),
    host: nodeName.optional(),
    name: credentialName.optional(),
    /** How long it lives, e.g. `30m`, `12h`, `7d` (at most 366d); it never expires when unset. */
    ttl: z.string().regex(DURATION_PATTERN, 'must be a whole number and a unit (s, m, h or d), e.g. 30m, 12h or 7d').optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.scope === 'host' && body.host === undefined) {
      ctx.addIssue({ code: 'custom', path: ['host'], message: 'is required for the host scope: the one host (Serf node name) the credential acts as' });
    }
    if (body.scope !== 'host' && body.host !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['host'], message: `is only for the host scope; a ${body.scope} credential acts for no one host` });
    }
  });
export type CreateTokenBody = z.infer<typeof CreateTokenBody>;

/** Answer of `POST /v1/tokens`: the only time the token is shown. */
export const CreatedToken = z.object({ credential: Credential, token: z.string() });
export type CreatedToken = z.infer<typeof CreatedToken>;

export const CredentialList = z.object({ credentials: z.array(Credential) });
export const RevokedCredential = z.object({ id: z.string(), revoked: z.literal(true) });
