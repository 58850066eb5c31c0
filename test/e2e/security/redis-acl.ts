import type { TestCluster } from '../../fixtures/cluster.js';

export function redisAclChecks(_cluster: () => TestCluster): void {}
