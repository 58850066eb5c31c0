// Engine API version negotiation against the real Docker engine, watched through a
// recording proxy on a Unix socket so the version each request carries can be seen.
import { beforeAll, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  DockerApiVersionError,
  NEWEST_API_VERSION,
  OLDEST_API_VERSION,
  compareApiVersions,
  connectDocker,
  negotiateApiVersion,
} from '../../shared/docker/docker-client.js';
import { UnreachableError } from '../../shared/contract/errors.js';

const ENGINE = '/var/run/docker.sock';

/** A Unix socket that forwards to the engine and records each request's path; `answer` may stand in for a path. */
async function recordingProxy(answer?: (path: string) => unknown) {
  const dir = mkdtempSync(join(tmpdir(), 'gvdock-proxy-'));
  const socketPath = join(dir, 'docker.sock');
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    paths.push(path);
    const canned = answer?.(path);
    if (canned !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(canned));
      return;
    }
    const upstream = request({ socketPath: ENGINE, method: req.method, path, headers: req.headers }, (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    paths,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('connecting to the Docker engine', () => {
  let engineApi: string;

  beforeAll(async () => {
    engineApi = (await execa('docker', ['version', '--format', '{{.Server.APIVersion}}'])).stdout.trim();
  });

  it('speaks the engine API version both sides know, on every request', async () => {
    const proxy = await recordingProxy();
    try {
      const connection = await connectDocker(proxy.socketPath);
      const expected = compareApiVersions(engineApi, NEWEST_API_VERSION) < 0 ? engineApi : NEWEST_API_VERSION;
      expect(connection.apiVersion).toBe(expected);
      expect(connection.engineVersion).toMatch(/^\d+\.\d+/);

      await connection.docker.listContainers({ all: true });
      await connection.docker.getImage('grapevine-base:bookworm').inspect();
      expect(proxy.paths[0]).toBe('/version');
      expect(proxy.paths.slice(1).map((path) => path.split('/')[1])).toEqual([`v${expected}`, `v${expected}`]);
    } finally {
      await proxy.close();
    }
  });

  it('refuses an engine older than Docker 20.10, naming both versions', async () => {
    // What a Docker 19.03 engine answers to GET /version.
    const proxy = await recordingProxy((path) => (path === '/version' ? { Version: '19.03.15', ApiVersion: '1.40', MinAPIVersion: '1.12' } : undefined));
    try {
      const failure = await connectDocker(proxy.socketPath).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DockerApiVersionError);
      expect((failure as DockerApiVersionError).code).toBe('docker_api_unsupported');
      expect((failure as Error).message).toContain('1.40');
      expect((failure as Error).message).toContain(OLDEST_API_VERSION);
    } finally {
      await proxy.close();
    }
  });

  it('names the field when the version reply is not what an engine sends', async () => {
    const proxy = await recordingProxy((path) => (path === '/version' ? { Version: '99.0.0', ApiVersion: 'latest' } : undefined));
    try {
      await expect(connectDocker(proxy.socketPath)).rejects.toThrow(/GET \/version .*ApiVersion/);
    } finally {
      await proxy.close();
    }
  });

  it('reports an engine that does not answer as unreachable, naming the socket', async () => {
    const socketPath = join(tmpdir(), 'gvdock-no-engine.sock');
    const failure = await connectDocker(socketPath).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnreachableError);
    expect((failure as Error).message).toContain(socketPath);
  });
});

describe('choosing the Engine API version', () => {
  it('takes the engine version up to the newest known, numerically', () => {
    expect(negotiateApiVersion('1.41', '1.12')).toBe('1.41');
    expect(negotiateApiVersion('1.45', '1.24')).toBe('1.45');
    expect(negotiateApiVersion('1.99', '1.44')).toBe(NEWEST_API_VERSION);
    expect(compareApiVersions('1.9', '1.41')).toBeLessThan(0);
  });

  it('refuses an engine whose minimum is above the newest known', () => {
    expect(() => negotiateApiVersion('2.3', '2.0')).toThrow(DockerApiVersionError);
    expect(() => negotiateApiVersion('2.3', '2.0')).toThrow(/needs Engine API 2.0 or newer/);
  });
});
