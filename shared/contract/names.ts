import * as z from 'zod';

// Names end up in Serf tag filters, Redis keys, compose project names and HAProxy
// server names, so they are held to a character set that is safe in all of them.
export const roleName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 characters of a-z, 0-9 and -, starting with a letter');
export const envName = roleName;
export const nodeName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/, 'must be 1-63 characters of letters, digits and -');
export const releaseTag = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be a Docker tag: letters, digits, _ . - (at most 128)');
export const imageRef = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:/-]{0,254}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, 'must be an image reference such as registry:5000/web:v2')
  .max(512);
/** A cluster of a role's hosts (`red`, `white`): a Serf tag, a part of a backend name (routing.ts). */
export const clusterName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 characters of a-z, 0-9 and -, starting with a letter');
export const deployId = z.string().regex(/^d-[a-z0-9]{6,40}$/, 'must look like d-<letters and digits>');
