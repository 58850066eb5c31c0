// What a client says when a server's certificate does not verify: the reason in an
// operator's words (self-signed, another host name, expired), never a stack trace.
import { UnreachableError } from '../contract/errors.js';

/**
 * The server answered but its certificate did not verify. An UnreachableError, so an agent
 * treats it as the fleet's fault (a release is never marked broken for it) and retries.
 */
export class CertificateError extends UnreachableError {
  override readonly code = 'certificate_not_verified';
}

const REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed and not in the trusted CAs',
  SELF_SIGNED_CERT_IN_CHAIN: 'it is signed by a CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'it is signed by a CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'it is signed by a CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'it is signed by a CA that is not trusted',
  CERT_UNTRUSTED: 'it is signed by a CA that is not trusted',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet (is the clock right?)',
  CERT_SIGNATURE_FAILURE: 'its signature does not verify',
  CERT_REVOKED: 'it has been revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it is for another host name',
  INVALID_PURPOSE: 'it is not meant for a server',
};

/**
 * The certificate problem behind a failed request, in words an operator acts on, or
 * undefined when the failure is not about the certificate.
 */
export function certificateProblem(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  const reason = REASONS[code];
  if (reason === undefined) return undefined;
  // Node names the host and the certificate's names for a mismatch: worth keeping.
  const detail = code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? `: ${(error as Error).message}` : ` (${code})`;
  return `its certificate did not verify: ${reason}${detail}`;
}

/** An https:// request that met a server speaking plain HTTP fails its handshake this way. */
export function isPlainHttpAnswer(error: unknown): boolean {
  const failure = error as { code?: unknown; message?: unknown } | undefined;
  return failure?.code === 'EPROTO' && typeof failure.message === 'string' && /wrong version number|packet length too long|http request/i.test(failure.message);
}

/**
 * Why a request failed when the URL's scheme is not what the server speaks, or undefined:
 * https:// to a plain HTTP server fails its handshake; an HTTPS server hangs up on http://.
 */
export function schemeMismatch(url: string, error: unknown): string | undefined {
  if (isPlainHttpAnswer(error)) return 'does not speak TLS on that port (does it serve plain http://?)';
  const code = (error as { code?: unknown } | undefined)?.code;
  // A plain HTTP server may reset a connection too: the hint stays a hint.
  if (url.startsWith('http:') && code === 'ECONNRESET') return `is unreachable (${(error as Error).message}; if it serves HTTPS, use https://)`;
  return undefined;
}
