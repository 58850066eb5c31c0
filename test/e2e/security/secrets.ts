import type { TestCluster } from '../../fixtures/cluster.js';

export function secretChecks(_cluster: () => TestCluster): void {}
