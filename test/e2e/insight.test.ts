// What an on-call engineer sees and hears of a rollout (README, "Insight"), checked on one
// local cluster of 3 production hosts and 1 staging host with real Serf, Redis, HAProxy,
// Docker and the registry. Each part lives in test/e2e/insight/.
// GV_INSIGHT_CLUSTER and GV_INSIGHT_SUBNET let two runs on one machine use their own cluster.
import { afterAll, beforeAll, describe } from 'vitest';
import { DEV_MIN_HEALTHY_TIME_MS } from '../../dev-cluster/hosts.js';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { auditChecks } from './insight/audit.js';
import { cliProgressChecks } from './insight/cli-progress.js';
import { dashboardChecks } from './insight/dashboard.js';
import { metricsChecks } from './insight/metrics.js';
import { notificationChecks, startNotificationReceiver, type NotificationReceiver } from './insight/notifications.js';

const name = process.env.GV_INSIGHT_CLUSTER ?? 'gvins';
/**
 * The parts' bad release fails at the health gate's deadline: 15 s instead of the dev cluster's
 * 30 s, which is what they wait for. Still past Docker's first unhealthy verdict (its start
 * period of 10 s and two failed checks) and far past a good release's start on a busy machine.
 */
const HEALTH_GATE = { healthyDeadlineMs: 15_000, minHealthyTimeMs: DEV_MIN_HEALTHY_TIME_MS };
const subnet = process.env.GV_INSIGHT_SUBNET ?? '10.228.0';

let fleet: TestCluster | undefined;
// Started before the cluster: the coordinator's config names its targets.
let notified: NotificationReceiver | undefined;
const notifications = (): NotificationReceiver => {
  if (!notified) throw new Error('the notification receiver did not start');
  return notified;
};
const cluster = (): TestCluster => {
  if (!fleet) throw new Error('the insight cluster did not come up');
  return fleet;
};

beforeAll(async () => {
  notified = await startNotificationReceiver();
  fleet = await startCluster({ name, subnet, production: 3, staging: 1, notifications: notified.targets, health: HEALTH_GATE });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
  await notified?.receiver.close();
});

// Parts, each a describe over the one cluster:
describe('notifications', () => notificationChecks(cluster, notifications));
describe('live CLI progress', () => cliProgressChecks(cluster));
describe('audit log and history', () => auditChecks(cluster));
describe('Prometheus metrics', () => metricsChecks(cluster));
describe('the dashboard in Chromium', () => dashboardChecks(cluster));
