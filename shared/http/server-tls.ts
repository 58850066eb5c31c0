// A server's certificate and key, read and checked before it listens: a file that cannot be
// read, is not PEM, has expired or does not belong with the other is a ConfigError naming it.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../contract/errors.js';

export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ServerTlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** When the certificate stops being valid, for the start-up log. */
  validTo: string;
}

/** `field` names the setting in the error, e.g. `tls` for the coordinator's config. */
export function readServerTls(files: ServerTlsFiles, field = 'tls', now = new Date()): ServerTlsMaterial {
  const cert = readPem(files.certFile, `${field}.certFile`);
  const key = readPem(files.keyFile, `${field}.keyFile`);
  let certificate: X509Certificate;
  try {
    // The leaf comes first in a chain file; that is the one the key must match.
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new ConfigError(`${field}.certFile ${files.certFile} is not a PEM certificate: ${errorMessage(error)}`, { cause: error });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new ConfigError(`${field}.keyFile ${files.keyFile} is not an unencrypted PEM private key: ${errorMessage(error)}`, { cause: error });
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${field}.keyFile ${files.keyFile} is not the key of the certificate in ${field}.certFile ${files.certFile}`);
  }
  // Served anyway, it would fail every client's check; refused here, it names the file to renew.
  if (new Date(certificate.validTo) <= now) {
    throw new ConfigError(`${field}.certFile ${files.certFile} expired on ${certificate.validTo}`);
  }
  return { cert, key, validTo: certificate.validTo };
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${file}: ${errorMessage(error)}`, { cause: error });
  }
}
