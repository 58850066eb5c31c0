import type { TestCluster } from '../../fixtures/cluster.js';

export function serfChecks(_cluster: () => TestCluster): void {}
