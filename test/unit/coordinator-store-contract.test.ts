// The in-memory DeployStore the coordinator's unit tests run on keeps the port's promises;
// test/integration/coordinator.test.ts runs the same suite on the Redis store.
import { describeDeployStore } from '../fixtures/deploy-store-contract.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

describeDeployStore('InMemoryDeployStore', () => new InMemoryDeployStore());
