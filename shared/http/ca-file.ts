// The CA file a client verifies a Grapevine server's certificate with (the coordinator, the
// load balancer's relay): PEM certificates, read once when the client is made.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../contract/errors.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The file's certificates as PEM text; a ConfigError naming the file when it holds none that parse. */
export function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the CA file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new ConfigError(`the CA file ${file} holds no PEM certificate`);
  for (const [index, pem] of certificates.entries()) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new ConfigError(`certificate ${index + 1} of the CA file ${file} does not parse: ${errorMessage(error)}`, { cause: error });
    }
  }
  return certificates.join('\n');
}
