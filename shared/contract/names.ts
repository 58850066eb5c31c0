import * as z from 'zod';
import { CLUSTER_RULE, DEPLOY_ID_RULE, NODE_RULE, ROLE_RULE, TAG_RULE } from './name-rules.js';

// The rules themselves, and why they are what they are, are in name-rules.ts.
export const roleName = z.string().regex(ROLE_RULE.pattern, ROLE_RULE.message);
export const envName = roleName;
export const nodeName = z.string().regex(NODE_RULE.pattern, NODE_RULE.message);
export const releaseTag = z.string().regex(TAG_RULE.pattern, TAG_RULE.message);
export const imageRef = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:/-]{0,254}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, 'must be an image reference such as registry:5000/web:v2')
  .max(512);
/** A cluster of a role's hosts (`red`, `white`): a Serf tag, a part of a backend name (routing.ts). */
export const clusterName = z.string().regex(CLUSTER_RULE.pattern, CLUSTER_RULE.message);
export const deployId = z.string().regex(DEPLOY_ID_RULE.pattern, DEPLOY_ID_RULE.message);
