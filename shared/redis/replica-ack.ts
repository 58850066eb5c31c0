// Redis replicates asynchronously: a write the primary acknowledged can vanish with it when
// Sentinel (or a cluster) promotes a replica that never received it. Where a promise rests
// on a write (a slot grant and the out-of-service mark that keep at most k hosts out), the
// writer waits for one replica's acknowledgement (WAIT 1) before acting on it.
//
// The window that remains: a write no replica acknowledged within REPLICA_ACK_TIMEOUT_MS,
// when the primary dies before it replicates. The writer goes on (a replica that lags that
// long is rarely the one promoted) but logs it; a grant lost that way is found by the
// holder's next lease renewal (within a third of the lease), which fails, so the holder puts
// its previous version back (shared/redis/slot-lease.ts).
import { Cluster, type Redis } from 'ioredis';
import type { Logger } from '../contract/logger.js';
import { callRedis } from './scripts.js';
import type { RedisClient } from './connection.js';
import { clusterKeySlot } from '../contract/redis-key-slot.js';

export const REPLICA_ACK_TIMEOUT_MS = 1_000;
/** The replica count is read again after this: a replica added or lost is seen within it. */
const REPLICAS_KNOWN_FOR_MS = 5_000;

export type ReplicaAck = { kind: 'acked'; replicas: number } | { kind: 'no-replicas' } | { kind: 'not-acked' };

const knownReplicas = new WeakMap<RedisClient, Map<string, { replicas: number; at: number }>>();

/**
 * Waits until a replica of the server holding `key` has every write this client sent it so
 * far. A lone server (no Sentinel, no cluster) is not asked: nothing would promote a replica.
 */
export async function confirmOnReplica(client: RedisClient, key: string, log: Logger, timeoutMs = REPLICA_ACK_TIMEOUT_MS): Promise<ReplicaAck> {
  if (!(client instanceof Cluster) && !isSentinelClient(client)) return { kind: 'no-replicas' };
  try {
    return await waitForReplica(client, key, log, timeoutMs);
  } catch (error) {
    // Redis away: the write's fate is the lease renewal's to find out, as for any outage.
    log.warn({ key, err: error }, 'could not ask Redis for a replica acknowledgement');
    return { kind: 'not-acked' };
  }
}

async function waitForReplica(client: RedisClient, key: string, log: Logger, timeoutMs: number): Promise<ReplicaAck> {
  const replicas = await replicaCount(client, key);
  if (replicas === 0) return { kind: 'no-replicas' };
  // In one pipeline with a command on `key`, so a cluster sends WAIT down the same connection
  // that carried the write, to the master of the key's slot.
  const replies = await callRedis('waiting for a replica', () => client.pipeline().exists(key).call('WAIT', '1', String(timeoutMs)).exec());
  const [error, acked] = replies?.[1] ?? [new Error('no reply to WAIT')];
  if (error) throw error;
  if (Number(acked) >= 1) return { kind: 'acked', replicas: Number(acked) };
  log.warn({ key, timeoutMs }, 'write not acknowledged by any replica in time; a failover now could lose it');
  return { kind: 'not-acked' };
}

function isSentinelClient(client: Redis): boolean {
  return (client.options.sentinels?.length ?? 0) > 0;
}

async function replicaCount(client: RedisClient, key: string): Promise<number> {
  // A count cached per slot is as good as per master, and needs no map of the nodes.
  const node = client instanceof Cluster ? String(clusterKeySlot(key)) : 'primary';
  const cache = knownReplicas.get(client) ?? new Map<string, { replicas: number; at: number }>();
  knownReplicas.set(client, cache);
  const known = cache.get(node);
  if (known && Date.now() - known.at < REPLICAS_KNOWN_FOR_MS) return known.replicas;
  const replies = await callRedis('reading the replication state', () => client.pipeline().exists(key).info('replication').exec());
  const [error, info] = replies?.[1] ?? [new Error('no reply to INFO')];
  if (error) throw error;
  const replicas = Number(/^connected_slaves:(\d+)/m.exec(String(info))?.[1] ?? 0);
  cache.set(node, { replicas, at: Date.now() });
  return replicas;
}
