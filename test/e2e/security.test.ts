// What an operator must be able to rely on against a hostile host or a leaked file
// (README, "Security"), checked on one local cluster of 3 production hosts with real Serf,
// Redis, HAProxy, Docker and the registry. Each part lives in test/e2e/security/; the
// Serf keyring rotation runs last, since it changes the cluster's key.
// GV_SECURITY_CLUSTER and GV_SECURITY_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe } from 'vitest';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { credentialChecks } from './security/credentials.js';
import { digestChecks } from './security/digests.js';
import { redisAclChecks } from './security/redis-acl.js';
import { relayChecks } from './security/relay.js';
import { secretChecks } from './security/secrets.js';
import { serfChecks } from './security/serf.js';
import { tlsChecks } from './security/tls.js';

const name = process.env.GV_SECURITY_CLUSTER ?? 'gvsec';
const subnet = process.env.GV_SECURITY_SUBNET ?? '10.227.0';

let fleet: TestCluster | undefined;
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the security cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  fleet = await startCluster({ name, subnet, production: 3, tls: true });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('host credentials', () => credentialChecks(cluster));
describe("the load balancer's relay", () => relayChecks(cluster));
describe('releases pinned to digests from allowed registries', () => digestChecks(cluster));
describe('Redis behind ACLs', () => redisAclChecks(cluster));
describe('no secret in a process list or the output', () => secretChecks(cluster));
describe('TLS for the coordinator and the relay', () => tlsChecks(cluster));
describe('Serf encrypted', () => serfChecks(cluster));
