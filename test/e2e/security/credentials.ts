import type { TestCluster } from '../../fixtures/cluster.js';

export function credentialChecks(_cluster: () => TestCluster): void {}
