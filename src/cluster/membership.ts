import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { RedisConnection, type RedisHealth } from './redis.js';
import { NodeRegistry, type NodeInfo, type NodeRoom } from './registry.js';

/** This node's place in a cluster: its Redis connection and its heartbeat in the node registry. */
export interface ClusterMembership {
  readonly nodeId: string;
  readonly registry: NodeRegistry;
  /** Redis as this node sees it (`/ready` and the admin cluster view report it). */
  health(): RedisHealth;
  /** Live nodes, this one included while Redis is reachable. */
  nodes(): Promise<NodeInfo[]>;
  /** Deregisters (best effort) and disconnects. */
  close(): Promise<void>;
}

/** A node id the registry accepts: host name, pid and a random suffix (unique across restarts). */
export function makeNodeId(host = os.hostname()): string {
  const safe = host.replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 80) || 'node';
  return `${safe}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The node's connection to the cluster's Redis, named after the node (shown in CLIENT LIST). */
export function connectCluster(url: string, nodeId = makeNodeId()): { nodeId: string; redis: RedisConnection } {
  return { nodeId, redis: new RedisConnection(url, { name: nodeId }) };
}

/**
 * Joins the cluster over `redis` (connectCluster). Never fails the node's start: with Redis
 * away the node runs alone, `/ready` says Redis is degraded, and the registry registers it
 * as soon as Redis answers (it reconnects forever). `close()` also closes `redis`.
 */
export async function joinCluster(opts: {
  nodeId: string;
  redis: RedisConnection;
  self: Omit<NodeInfo, 'load' | 'id' | 'rooms' | 'roomsNotListed'>;
  load: () => number;
  rooms?: () => NodeRoom[];
  log: Logger;
  heartbeatMs?: number;
}): Promise<ClusterMembership> {
  const { nodeId, redis } = opts;
  const log = opts.log.child({ component: 'cluster', node: nodeId });
  const registry = new NodeRegistry(redis, { ...opts.self, id: nodeId }, { load: opts.load, ...(opts.rooms ? { rooms: opts.rooms } : {}), ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}) });
  // One line per outage, not one per missed beat.
  let failing = false;
  registry.on('heartbeatFailed', (err) => {
    if (!failing) log.warn({ err: err.message }, 'cluster heartbeat failed; retrying (this node keeps serving alone)');
    failing = true;
  });
  redis.on('connected', () => {
    if (failing) log.info('Redis is back; this node is registered again');
    failing = false;
  });
  redis.on('degraded', () => log.warn({ redis: redis.health() }, 'Redis unreachable: cluster features degraded'));
  try {
    // The connection opens in the background: give it a moment so the first beat is not wasted.
    await redis.waitConnected(3000).catch(() => undefined);
    await registry.start();
    log.info({ redis: redis.health().url }, 'joined the cluster');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'Redis not reachable at start; this node serves alone until it is');
  }
  return {
    nodeId,
    registry,
    health: () => redis.health(),
    nodes: () => registry.list(),
    async close() {
      await registry.close().catch(() => undefined);
      await redis.close();
    },
  };
}
