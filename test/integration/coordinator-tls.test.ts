// The coordinator over HTTPS as `grapevine coordinator` runs it (real Redis, its own Serf
// agent), with certificates from the local CA that `dev up --tls` makes: what a client that
// trusts the CA, one that does not, and one reaching a certificate for another name observe.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../../coordinator/server.js';
import { createLocalCa, issueServerCertificate, type LocalCa, type ServerCertificate } from '../../dev-cluster/local-ca.js';
import { CoordinatorConfig } from '../../shared/contract/config.js';
import { ConfigError, UnreachableError } from '../../shared/contract/errors.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { CertificateError } from '../../shared/http/tls-failure.js';
import { issueExpiredCertificate } from '../fixtures/expired-certificate.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';
import { freePort } from '../fixtures/server-process.js';

const logger = pino({ level: 'silent' });
const TOKEN = 'test-token-0123456789';
const RPC_AUTH = 'serf-test-token-1234';
const SERF_IP = '127.0.0.51';

describe('coordinator over HTTPS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-tls-'));
  let redis: RedisInstance;
  let ca: LocalCa;
  let certificate: ServerCertificate;
  const started: RunningCoordinator[] = [];
  let coordinator: RunningCoordinator;

  async function configFor(tls: ServerCertificate, name: string): Promise<CoordinatorConfig> {
    const gossipPort = await freePort(SERF_IP);
    return CoordinatorConfig.parse({
      listen: { host: '127.0.0.1', port: 0 },
      redis: redis.url,
      token: TOKEN,
      registry: '127.0.0.1:5000',
      tls,
      serf: { bind: `${SERF_IP}:${gossipPort}`, rpc: `${SERF_IP}:${await freePort(SERF_IP)}`, rpcAuth: RPC_AUTH, dataDir: join(dir, `${name}-serf`) },
    });
  }

  async function start(tls: ServerCertificate, name: string): Promise<RunningCoordinator> {
    const running = await startCoordinator(await configFor(tls, name), logger);
    started.push(running);
    return running;
  }

  beforeAll(async () => {
    redis = await startRedis();
    ca = await createLocalCa(join(dir, 'tls'), 'gvtest-tls');
    certificate = await issueServerCertificate(ca, 'coordinator', ['127.0.0.1']);
    coordinator = await start(certificate, 'main');
  });

  afterAll(async () => {
    for (const running of started) await running.stop();
    await redis?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS that a client trusting the local CA reads', async () => {
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new CoordinatorClient({ url: coordinator.url, token: TOKEN, caFile: ca.caFile });
    await expect(client.health()).resolves.toEqual({ ok: true });
    await expect(client.listDeploys()).resolves.toEqual([]);
  });

  it('keeps private keys readable by their owner only', () => {
    for (const file of [ca.keyFile, certificate.keyFile]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(ca.dir).mode & 0o777).toBe(0o700);
  });

  it('without the CA, a client refuses the certificate, naming the URL, the reason and what it trusted', async () => {
    const client = new CoordinatorClient({ url: coordinator.url, token: TOKEN });
    const failure = await client.health().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CertificateError);
    expect(failure).toMatchObject({ code: 'certificate_not_verified' });
    const { message } = failure as CertificateError;
    expect(message).toContain(`coordinator at ${coordinator.url}: its certificate did not verify: it is signed by a CA that is not trusted`);
    expect(message).toContain('no CA file given');
    expect(message).not.toMatch(/\n\s+at /);
  });

  it('refuses a certificate made for another address, naming both', async () => {
    const other = await issueServerCertificate(ca, 'elsewhere', ['127.0.0.9', 'coordinator.elsewhere.test']);
    const misnamed = await start(other, 'misnamed');
    const client = new CoordinatorClient({ url: misnamed.url, token: TOKEN, caFile: ca.caFile });
    const failure = await client.health().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CertificateError);
    expect((failure as Error).message).toMatch(/its certificate did not verify: it is for another host name: .*127\.0\.0\.1.*127\.0\.0\.9/);
  });

  it('a client refuses an expired certificate, and the coordinator will not start with one', async () => {
    const expired = await issueExpiredCertificate(ca, '127.0.0.1');
    const server: Server = createHttpsServer({ cert: readFileSync(expired.certFile), key: readFileSync(expired.keyFile) }, (_, res) => res.end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const client = new CoordinatorClient({ url: `https://127.0.0.1:${port}`, token: TOKEN, caFile: ca.caFile });
      await expect(client.health()).rejects.toThrow(`coordinator at https://127.0.0.1:${port}: its certificate did not verify: it has expired (CERT_HAS_EXPIRED)`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = startCoordinator(await configFor(expired, 'expired'), logger);
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(`tls.certFile ${expired.certFile} expired on`);
  });

  it('will not start with a key of another certificate or a file it cannot read, naming the file', async () => {
    const other = await issueServerCertificate(ca, 'other', ['127.0.0.1']);
    const mismatched = startCoordinator(await configFor({ certFile: certificate.certFile, keyFile: other.keyFile }, 'mismatched'), logger);
    await expect(mismatched).rejects.toThrow(`tls.keyFile ${other.keyFile} is not the key of the certificate in tls.certFile ${certificate.certFile}`);
    const missing = join(dir, 'tls', 'missing.crt');
    const unreadable = startCoordinator(await configFor({ certFile: missing, keyFile: certificate.keyFile }, 'missing'), logger);
    await expect(unreadable).rejects.toThrow(`cannot read tls.certFile ${missing}: ENOENT`);
  });

  it('a client refuses a CA file that holds no certificate, naming it', () => {
    expect(() => new CoordinatorClient({ url: coordinator.url, token: TOKEN, caFile: certificate.keyFile })).toThrow(`the CA file ${certificate.keyFile} holds no PEM certificate`);
  });

  it('plain HTTP to the HTTPS port is hung up on, and the client suggests https://', async () => {
    const plain = new CoordinatorClient({ url: coordinator.url.replace('https:', 'http:'), token: TOKEN, timeoutMs: 5_000 });
    const failure = await plain.health().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnreachableError);
    expect((failure as Error).message).toMatch(/^coordinator at http:\/\/127\.0\.0\.1:\d+ is unreachable \(socket hang up; if it serves HTTPS, use https:\/\/\)$/);
  });

  it('https:// to a plain HTTP server says it does not speak TLS', async () => {
    const server = createHttpServer((_, res) => res.end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const client = new CoordinatorClient({ url: `https://127.0.0.1:${port}`, token: TOKEN, caFile: ca.caFile });
      await expect(client.health()).rejects.toThrow(`coordinator at https://127.0.0.1:${port} does not speak TLS on that port (does it serve plain http://?)`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
