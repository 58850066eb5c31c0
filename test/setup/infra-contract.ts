// What the integration run's global setup hands the fixtures: names shared by both sides,
// and the shape of the value the setup provides to every test file.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COMPOSE_FILE = 'docker-compose.test.yml';
export const BASE_IMAGE = 'grapevine-base:bookworm';
/** Every run is its own compose project, `gvinfra-test-<pid of the vitest process>`. */
export const PROJECT_PREFIX = 'gvinfra-test-';
export const REDIS_IMAGE = 'gvinfra-redis:test';
/** Labels a container a test file started itself with the run that owns it. */
export const RUN_LABEL = 'gvinfra.test-run';
/** provisioning/test-images/redis.conf `databases`: database 0 holds the allocator. */
export const REDIS_DATABASES = 64;
/** Where the HAProxy container sees the bind-mounted directory (provisioning/test-images). */
export const HAPROXY_CONTAINER_DIR = '/run/grapevine-haproxy';

export interface TestInfra {
  /** The compose project of this run. */
  project: string;
  redis: { host: string; port: number };
  haproxy: {
    /** Host directory bind-mounted at HAPROXY_CONTAINER_DIR: haproxy.cfg, master.sock, one dir per instance. */
    dir: string;
    container: string;
  };
  /** host:port of the registry, for image references like `<registry>/web:v1`. */
  registry: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testInfra: TestInfra;
  }
}
