// The TLS settings of the configs: a server's certificate and key, a client's CA file.
import * as z from 'zod';

const pemPath = z.string().regex(/^\/[A-Za-z0-9._/@+-]*$/, 'must be an absolute path of plain characters');

/** A server serves HTTPS with these (PEM; the certificate file may carry its chain after the leaf). */
export const ServerTls = z.strictObject({ certFile: pemPath, keyFile: pemPath });
export type ServerTls = z.infer<typeof ServerTls>;

/**
 * PEM file of the CAs a client trusts for the coordinator's and the relay's certificates;
 * without it, Node.js's built-in public CAs (and NODE_EXTRA_CA_CERTS).
 */
export const CaFile = pemPath;
