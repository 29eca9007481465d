import type { FastifyPluginAsync } from 'fastify';
import type { ClusterMembership } from '../../cluster/membership.js';
import { errors, route } from './schemas.js';

export interface ClusterRoutesOptions {
  /** Absent when the node runs alone (no REDIS_URL). */
  cluster?: Pick<ClusterMembership, 'nodeId' | 'health' | 'nodes'> | undefined;
}

const node = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    wsUrl: { type: 'string' },
    httpUrl: { type: 'string' },
    mediaAddress: { type: 'string' },
    load: { type: 'number', description: 'Participants on the node at its last heartbeat' },
    startedAt: { type: 'string', format: 'date-time' },
    rooms: {
      type: 'array',
      description: 'Rooms open on the node at its last heartbeat (its part of each), busiest first, at most 200',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, peers: { type: 'integer' }, viewers: { type: 'integer' }, publishers: { type: 'integer', description: 'Broadcasters on stage on this node' } },
        required: ['id', 'peers', 'viewers', 'publishers'],
      },
    },
    roomsNotListed: { type: 'integer', description: 'Rooms open on the node beyond those listed' },
  },
  required: ['id', 'wsUrl', 'httpUrl', 'mediaAddress', 'load', 'startedAt', 'rooms', 'roomsNotListed'],
} as const;

const reply = {
  type: 'object',
  properties: {
    mode: { type: 'string', enum: ['standalone', 'cluster'] },
    self: { type: 'string', description: 'This node’s id (cluster mode)' },
    redis: {
      type: 'object',
      properties: { state: { type: 'string' }, since: { type: 'string', format: 'date-time' }, lastError: { type: 'string' }, url: { type: 'string', description: 'Without its password' } },
      required: ['state', 'since', 'url'],
    },
    nodes: { type: 'array', items: node, description: 'Nodes whose heartbeat is current; empty while Redis is unreachable' },
  },
  required: ['mode', 'nodes'],
} as const;

/** `GET /admin/cluster`: the nodes of the cluster as Redis knows them (with the rooms each hosts), and Redis as this node sees it. */
export const clusterRoutes: FastifyPluginAsync<ClusterRoutesOptions> = async (app, opts) => {
  app.get('/admin/cluster', route('The cluster: live nodes (heartbeats in Redis) with the rooms each hosts, and this node’s Redis connection', { response: { 200: reply, ...errors } }), async () => {
    const cluster = opts.cluster;
    if (!cluster) return { mode: 'standalone', nodes: [] };
    const h = cluster.health();
    const redis = { state: h.state, since: new Date(h.since).toISOString(), url: h.url, ...(h.lastError ? { lastError: h.lastError } : {}) };
    // Redis away: the list is unknown, which the redis state already says.
    const nodes = h.state === 'connected' ? await cluster.nodes().catch(() => []) : [];
    return { mode: 'cluster', self: cluster.nodeId, redis, nodes: nodes.map((n) => ({ ...n, startedAt: new Date(n.startedAt).toISOString() })) };
  });
};
