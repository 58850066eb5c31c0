// A local cluster's own certificate authority (`dev up --tls`): a CA made for the cluster in
// its folder, and server certificates it signs for the coordinator and the load balancer's
// relay, named by the addresses clients reach them at. openssl runs without a shell; private
// keys are 0600 in a 0700 folder, from the moment openssl writes them.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { execa } from 'execa';
import { errorMessage } from '../shared/contract/errors.js';
import { DevClusterError } from './dev-cluster-error.js';

/** A dev cluster lives hours, not months: a short life keeps a leaked key of little use. */
const VALID_DAYS = 30;
const OPENSSL_TIMEOUT_MS = 20_000;
/** What a certificate's name (CN, file name) may hold: nothing openssl's config syntax reads as special. */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface LocalCa {
  /** The CA's certificate: what clients trust (GRAPEVINE_CA_FILE, an agent's caFile). */
  caFile: string;
  /** The CA's private key, 0600: it signs the cluster's server certificates and nothing leaves the folder. */
  keyFile: string;
  dir: string;
}

export interface ServerCertificate {
  certFile: string;
  keyFile: string;
}

/** Makes the CA in `<dir>` (created 0700), named after the cluster. */
export async function createLocalCa(dir: string, clusterName: string): Promise<LocalCa> {
  const name = plainName(`Grapevine local CA ${clusterName}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const ca: LocalCa = { caFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key'), dir };
  const config = writeOpensslConfig(dir, 'ca', name, ['basicConstraints = critical,CA:TRUE,pathlen:0', 'keyUsage = critical,keyCertSign,cRLSign', 'subjectKeyIdentifier = hash']);
  await openssl(`the local CA in ${dir}`, newCertificateArgs(config, ca.keyFile, ca.caFile));
  chmodSync(ca.keyFile, 0o600);
  chmodSync(ca.caFile, 0o644);
  return ca;
}

/**
 * A server certificate signed by `ca` for `name` (its file names and CN), valid for each of
 * `addresses`: IPs and DNS names, which clients check against the host of the URL they use.
 */
export async function issueServerCertificate(ca: LocalCa, name: string, addresses: string[]): Promise<ServerCertificate> {
  const fileName = plainName(name);
  if (addresses.length === 0) throw new DevClusterError(`a certificate for ${name} needs at least one address`);
  const altNames = addresses.map((address) => {
    if (isIP(address) !== 0) return `IP:${address}`;
    if (DNS_NAME.test(address)) return `DNS:${address}`;
    throw new DevClusterError(`certificate for ${name}: ${JSON.stringify(address)} is neither an IP address nor a DNS name`);
  });
  const certificate = { certFile: join(ca.dir, `${fileName}.crt`), keyFile: join(ca.dir, `${fileName}.key`) };
  const config = writeOpensslConfig(ca.dir, fileName, fileName, [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${altNames.join(',')}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ]);
  await openssl(`the certificate for ${name}`, [...newCertificateArgs(config, certificate.keyFile, certificate.certFile), '-CA', ca.caFile, '-CAkey', ca.keyFile]);
  chmodSync(certificate.keyFile, 0o600);
  return certificate;
}

/** `req -x509` with a new P-256 key, unencrypted (the service reads it at start), and the extensions of `config`. */
function newCertificateArgs(config: string, keyFile: string, certFile: string): string[] {
  return [
    'req', '-x509', '-config', config, '-extensions', 'ext',
    '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-noenc',
    '-keyout', keyFile, '-out', certFile, '-days', String(VALID_DAYS),
  ];
}

/** A config of its own, so the machine's openssl.cnf adds nothing to what the certificate says. */
function writeOpensslConfig(dir: string, fileName: string, commonName: string, extensions: string[]): string {
  const file = join(dir, `${fileName}.cnf`);
  const lines = ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', `CN = ${commonName}`, '[ext]', ...extensions];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

async function openssl(what: string, args: string[]): Promise<void> {
  try {
    await execa('openssl', args, { stdin: 'ignore', all: true, timeout: OPENSSL_TIMEOUT_MS });
  } catch (error) {
    const output = (error as { all?: unknown }).all;
    throw new DevClusterError(`openssl could not make ${what}: ${typeof output === 'string' && output.trim() ? output.trim().split('\n').slice(-3).join('; ') : errorMessage(error)}`, { cause: error });
  }
}

function plainName(name: string): string {
  if (!PLAIN_NAME.test(name)) throw new DevClusterError(`certificate name ${JSON.stringify(name)} must be letters, digits, spaces, dots, dashes or underscores (at most 64)`);
  return name;
}
