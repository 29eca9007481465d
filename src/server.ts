import { ClusterBans } from './cluster/bans.js';
import { ChatStream } from './cluster/chatStream.js';
import { ClusterPresence } from './cluster/presence.js';
import { ClusterControl } from './cluster/control.js';
import { Cascade } from './cluster/cascade.js';
import type { RemoteRemoval } from './moderation/moderation.js';
import { connectCluster, joinCluster, type ClusterMembership } from './cluster/membership.js';
import { redactRedisUrl, type RedisHealth } from './cluster/redis.js';
import type { Server as HttpsServer } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { checkBuild, projectRoot } from './build/info.js';
import { resolveMediaAddresses, type MediaAddresses } from './media/addresses.js';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import { TokenService } from './auth/tokens.js';
import type { AccessPolicy } from './auth/access.js';
import { WorkerPool } from './media/workerPool.js';
import { describeWorkerBinary } from './media/workerBinary.js';
import { buildHttpApp } from './http/app.js';
import { loadUws, uwsInfo, type TemplatedApp, type us_listen_socket } from './signaling/uws.js';
import { closeUws, listenUws } from './signaling/listener.js';
import { createWsApp } from './signaling/tlsApp.js';
import { readTls } from './tls.js';
import type { WsUrlRequest } from './http/clientConfig.js';
import { attachSignaling } from './signaling/server.js';
import { RoomManager } from './rooms/roomManager.js';
import { MediaProbes } from './loadtools/probes.js';
import { Recordings } from './recording/recordings.js';
import { TurnService } from './turn/service.js';
import { MediaSessions } from './whip/sessions.js';
import { Metrics } from './metrics/metrics.js';
import { BanList } from './moderation/banList.js';
import { AddressLimits } from './signaling/addressLimits.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface StartOptions {
  /**
   * Folder of the built web client. Default: `dist/client`, checked first (a
   * missing or stale build is a `BuildError` that says which command fixes it).
   * `null` serves no pages (tests of the API alone).
   */
  clientDir?: string | null;
}

export interface Fourcast {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: WorkerPool;
  readonly tokens: TokenService;
  readonly metrics: Metrics;
  readonly rooms: RoomManager;
  /** Room recordings of this node (started by admin routes). */
  readonly recordings: Recordings;
  /** WHIP broadcasters and WHEP players of this node. */
  readonly mediaSessions: MediaSessions;
  readonly http: FastifyInstance;
  readonly ws: TemplatedApp;
  readonly draining: boolean;
  /** Where people and browsers reach this node. */
  readonly urls: { http: string; ws: string };
  /** The ports actually bound (HTTP_PORT/WS_PORT 0 pick free ones). */
  readonly ports: { http: number; ws: number };
  /** What the WebRtcServers bind and announce to browsers. */
  readonly media: MediaAddresses;
  /** Re-reads TLS_CERT_FILE/TLS_KEY_FILE (SIGHUP); throws, keeping the old certificate, when they are bad. */
  reloadTls(): void;
  /** Stops new joins, tells every client, and closes after the grace period. */
  drain(graceMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a node: checks the native parts first (uWS, mediasoup worker), then
 * the web client's build, the WebSocket server and the HTTP server. Anything that
 * fails is torn down before the error propagates.
 */
export async function startFourcast(config: Config, log: Logger, opts: StartOptions = {}): Promise<Fourcast> {
  const uws = loadUws();
  log.info({ uws: uwsInfo() }, `uWebSockets.js: ${uwsInfo().summary}`);
  // Checked before anything starts: a key that does not match its certificate is a config error.
  const tls = config.tls ? readTls(config.tls) : undefined;
  if (tls) log.info({ names: tls.names, validTo: tls.validTo }, 'built-in TLS: HTTPS and WSS');
  const media = await resolveMediaAddresses(config.media.listenIp, config.media.announcedAddress);
  log.info({ listen: media.listen, detected: media.detected }, 'media addresses');
  const tokens = new TokenService(config.auth.tokenSecret);
  const metrics = new Metrics();
  const turn = new TurnService(config.turn, log.child({ component: 'turn' }), { onOutcome: (p, o) => metrics.turnOutcome(p, o) });
  log.info({ chain: turn.chain }, 'TURN credential providers');
  const pool = await WorkerPool.create({
    count: config.media.workers,
    logLevel: config.media.logLevel,
    listen: media.listen,
    portBase: config.media.portBase,
    log: log.child({ component: 'media' }),
    cpuHeadroom: config.media.cpuHeadroom,
    unresponsiveSamples: config.media.unresponsiveSamples,
    maxPacketRate: config.media.maxPacketRate,
    viewerPacketRate: config.media.viewerPacketRate,
    onServerBusy: () => metrics.limitRefused('server-busy'),
  });

  const binary = await describeWorkerBinary().catch(() => undefined);
  log.info({ binary }, `mediasoup worker binary: ${binary ? `${binary.origin} build of mediasoup ${binary.mediasoupVersion}` : 'unknown'}`);

  let listenSocket: us_listen_socket | undefined;
  let redisLink: ReturnType<typeof connectCluster> | undefined;
  let clusterBans: ClusterBans | undefined;
  let clusterPresence: ClusterPresence | undefined;
  let clusterControl: ClusterControl | undefined;
  let cascade: Cascade | undefined;
  let http: FastifyInstance | undefined;
  let draining = false;
  try {
    // A node without its pages is of no use to people: refuse a missing or stale build.
    const root = projectRoot(here);
    const clientDir =
      opts.clientDir === undefined ? checkBuild(root, { serverFromDist: path.relative(root, here).split(path.sep)[0] === 'dist' }).clientDir : (opts.clientDir ?? undefined);
    const wsApp = createWsApp(uws, config.tls);
    const ws = wsApp.app;
    // Cluster mode: one Redis connection for the node, from the start (rooms share their chat through it).
    redisLink = config.redisUrl ? connectCluster(config.redisUrl) : undefined;
    const link = redisLink;
    if (link) metrics.labelNode(link.nodeId);
    const rooms = new RoomManager({
      pool,
      log,
      publish: (topic, message) => ws.publish(topic, message),
      maxViewersPerRouter: config.media.maxViewersPerRouter,
      keyFrameRequestDelayMs: config.media.keyFrameRequestDelayMs,
      presenceIntervalMs: 1000,
      emptyRoomGraceMs: config.rooms.emptyGraceMs,
      chat: config.chat,
      ...(link ? { sharedChat: (room: string) => new ChatStream(link.redis, room, { history: config.chat.history }) } : {}),
      participantListMax: config.participantListMax,
      invitations: { ...config.invitations, onOutcome: (o) => metrics.invitation(o) },
      calls: { ...config.calls, onOutcome: (o) => metrics.call(o) },
      bans: new BanList(config.bans.durationMs),
      roomLimits: { total: config.limits.roomsTotal, perAddress: config.limits.roomsPerAddress },
      onRoomRefused: (limit) => metrics.limitRefused(limit === 'total' ? 'rooms-total' : 'rooms-per-address'),
      peerLimits: config.media.peerLimits,
      onPeerLimitRefused: (limit) => metrics.limitRefused(limit),
      onChatOut: (recipients) => metrics.chatMessage('out', recipients),
      ...(link ? { forwardRemoval: (r: RemoteRemoval) => clusterControl?.forwardRemoval(r) } : {}),
    });
    // Cluster mode: kicks and bans of peers on other nodes arrive here.
    clusterControl = link
      ? new ClusterControl(link.redis, { nodeId: link.nodeId, log: log.child({ component: 'control' }), onRemoval: (r) => rooms.get(r.room)?.moderation.removeForwarded(r) })
      : undefined;
    clusterControl?.start();
    // Cluster mode: this node's ban list follows the cluster's (a ban made anywhere holds here).
    clusterBans = link
      ? new ClusterBans(link.redis, rooms.bans, {
          log: log.child({ component: 'bans' }),
          onBanned: (room) => rooms.get(room)?.moderation.expelBanned(),
        })
      : undefined;
    void clusterBans?.start(); // local bans work meanwhile; the start never waits on Redis
    // Cluster mode: viewer counts and small rooms' participant lists add up every node's.
    clusterPresence = link ? new ClusterPresence(link.redis, { nodeId: link.nodeId, rooms: () => rooms.rooms.values(), log: log.child({ component: 'presence' }) }) : undefined;
    clusterPresence?.start();
    const mediaSessions = new MediaSessions({
      rooms,
      rtpCapabilities: pool.rtpCapabilities,
      log: log.child({ component: 'whip' }),
      timers: { connectTimeoutMs: config.whip.connectTimeoutMs, disconnectTimeoutMs: config.whip.disconnectTimeoutMs },
      maxPerAddress: config.whip.maxPerAddress,
      onClose: (protocol, reason) => metrics.whipSessionEnded(protocol, reason),
    });
    const recordings = new Recordings({
      rooms,
      dir: config.recording.dir,
      ffmpeg: config.recording.ffmpeg,
      log: log.child({ component: 'recording' }),
      onFailure: (reason) => metrics.recordingFailure(reason),
    });
    metrics.attach({ pool, rooms, mediaSessions, recordings });
    pool.on('workerdied', () => metrics.workerDeath());
    const addressLimits = new AddressLimits({
      maxConnections: config.limits.wsConnectionsPerAddress,
      chatRate: { perSecond: config.chat.addressRatePerSecond, burst: config.chat.addressBurst },
    });
    const access: AccessPolicy = {
      tokens,
      allowAnonymousViewers: config.auth.allowAnonymousViewers,
      isDraining: () => draining,
      isBanned: (room, keys) => rooms.isBanned(room, keys),
      connectionsFull: (remote) => addressLimits.connectionsFull(remote),
    };
    const signaling = attachSignaling(ws, {
      rooms,
      metrics,
      access,
      log,
      isDraining: () => draining,
      maxBufferBytes: config.wsMaxBufferBytes,
      requestRate: { perSecond: config.wsRequestsPerSecond, burst: config.wsRequestsPerSecond * 4 },
      trustProxy: config.http.trustProxy,
      addressLimits,
      chatRate: { perSecond: config.chat.ratePerSecond, burst: config.chat.burst },
    });
    wsApp.routes((app, sniDomain) => {
      if (sniDomain) signaling.mount(app);
      app.any('/*', (res) => {
        res.writeStatus('404 Not Found').end('Fourcast WebSocket endpoint is /ws');
      });
    });
    const bound = await listenUws(ws, config.ws.host, config.ws.port);
    listenSocket = bound.socket;

    // Known once the HTTP server is bound (HTTP_PORT=0 picks a port); read by the admin token links.
    const publicHttp: { url?: string } = {};
    const fixedWsUrl: { url?: string } = { url: config.ws.publicUrl };
    // Cluster mode (REDIS_URL): joined once the node's URLs are known, after listen.
    let cluster: ClusterMembership | undefined;
    const clusterView = config.redisUrl
      ? {
          get nodeId() {
            return cluster?.nodeId ?? 'starting';
          },
          health: (): RedisHealth => cluster?.health() ?? { state: 'connecting', since: Date.now(), lastError: undefined, url: redactRedisUrl(config.redisUrl!) },
          nodes: () => cluster?.nodes() ?? Promise.resolve([]),
        }
      : undefined;
    // Pages ask for the live nodes on every load: read Redis at most once per heartbeat.
    let nodesCache: { at: number; list: Promise<{ wsUrl: string }[]> } | undefined;
    const liveNodes = (): Promise<{ wsUrl: string }[]> => {
      if (!cluster) return Promise.resolve([]);
      if (!nodesCache || Date.now() - nodesCache.at > 2000) nodesCache = { at: Date.now(), list: cluster.nodes().catch(() => []) };
      return nodesCache.list;
    };
    const adminToken = config.auth.adminToken;
    if (adminToken) log.info('admin routes enabled at /admin/* (Authorization: Bearer <ADMIN_TOKEN>)');
    else log.info('admin routes disabled: ADMIN_TOKEN is not set');
    // Every router is created from the same codec list, so the pool's capabilities tell
    // browsers what to load before they join (their device loads while the socket opens).
    const routerRtpCapabilities = pool.rtpCapabilities;
    http = await buildHttpApp({
      log,
      clientDir,
      trustProxy: config.http.trustProxy,
      turn,
      turnRatePerMinute: config.http.turnRatePerMinute,
      metrics,
      metricsToken: config.auth.metricsToken,
      whip: { sessions: mediaSessions, ratePerMinute: config.whip.ratePerMinute, onRequest: (protocol, method, status) => metrics.whipRequest(protocol, method, status) },
      admin: adminToken
        ? {
            token: adminToken,
            rooms,
            pool,
            tokens,
            publicUrl: () => publicHttp.url,
            workerBinary: () => describeWorkerBinary(),
            cluster: clusterView,
            recordings,
            mediaSessions,
            probes: new MediaProbes({ rooms, listenIp: config.media.listenIp, announcedAddress: config.media.announcedAddress ?? (media.detected ? media.announced[0] : undefined), log: log.child({ component: 'probes' }) }),
          }
        : undefined,
      // With PUBLIC_URL or PUBLIC_WS_URL the URL is fixed: a request's Host is never echoed.
      wsUrl: (req: WsUrlRequest) =>
        fixedWsUrl.url ??
        // Through a trusted proxy the socket shares the page's origin (the proxy routes /ws);
        // directly, it is the page's host at WS_PORT.
        (req.viaProxy ? `${req.secure ? 'wss' : 'ws'}://${req.host}/ws` : `${req.secure ? 'wss' : 'ws'}://${req.hostname}:${bound.port}/ws`),
      https: tls ? { cert: tls.cert, key: tls.key } : undefined,
      routerRtpCapabilities,
      ...(config.redisUrl ? { clusterNodes: () => liveNodes() } : {}),
      stageNode: async (room: string) => {
        const owner = await cluster?.registry.originOf(room);
        if (!cluster || !owner || owner === cluster.nodeId) return undefined;
        return (await cluster.registry.get(owner))?.httpUrl;
      },
      access,
      notReadyReasons: () => {
        const reasons: string[] = [];
        if (draining) reasons.push('draining');
        const alive = pool.workers.filter((w) => !w.closed).length;
        if (alive < pool.workers.length) reasons.push(`${pool.workers.length - alive} mediasoup worker(s) down`);
        const stuck = pool.unresponsive();
        if (stuck.length) reasons.push(`mediasoup worker(s) ${stuck.join(', ')} not answering`);
        const redis = clusterView?.health().state;
        if (redis && redis !== 'connected') reasons.push(`redis ${redis}: cluster features degraded`);
        return reasons;
      },
    });
    const address = await http.listen({ host: config.http.host, port: config.http.port });
    const httpPort = Number(new URL(address).port);
    const httpUrl = config.http.publicUrl ?? `${tls ? 'https' : 'http'}://localhost:${httpPort}`;
    publicHttp.url = httpUrl;
    const pub = new URL(httpUrl);
    const wsScheme = pub.protocol === 'https:' ? 'wss' : 'ws';
    const behindProxy = config.http.publicUrl !== undefined && config.http.trustProxy !== false;
    const wsUrl = config.ws.publicUrl ?? (behindProxy ? `${wsScheme}://${pub.host}/ws` : `${wsScheme}://${pub.hostname}:${bound.port}/ws`);
    if (config.http.publicUrl) fixedWsUrl.url = wsUrl;
    if (link) {
      cluster = await joinCluster({
        ...link,
        self: { wsUrl, httpUrl, mediaAddress: media.announced[0] ?? config.media.listenIp, startedAt: Date.now() },
        load: () => [...rooms.rooms.values()].reduce((n, r) => n + r.peers.size, 0),
        rooms: () => [...rooms.rooms.values()].map((r) => ({ id: r.id, peers: r.peers.size, viewers: r.viewerCount, publishers: r.stage.size })),
        log,
      });
      // Media between nodes: this node's rooms mirror their origin's stage through pipes.
      cascade = new Cascade(link.redis, {
        nodeId: link.nodeId,
        rooms,
        registry: cluster.registry,
        listenIp: config.media.listenIp,
        announcedAddress: config.media.announcedAddress ?? (media.detected ? media.announced[0] : undefined),
        log: log.child({ component: 'cascade' }),
      });
      cascade.start();
    }

    const httpApp = http;
    const socket = listenSocket;
    let closing: Promise<void> | undefined;
    return {
      config,
      log,
      pool,
      tokens,
      metrics,
      rooms,
      mediaSessions,
      recordings,
      http: httpApp,
      ws,
      get draining() {
        return draining;
      },
      urls: { http: httpUrl, ws: wsUrl },
      ports: { http: httpPort, ws: bound.port },
      media,
      reloadTls() {
        if (!config.tls) return;
        const fresh = readTls(config.tls);
        (httpApp.server as HttpsServer).setSecureContext({ cert: fresh.cert, key: fresh.key });
        wsApp.reload();
        log.info({ names: fresh.names, validTo: fresh.validTo }, 'TLS certificate reloaded');
      },
      async drain(graceMs = config.drainGraceMs) {
        if (draining) return;
        draining = true;
        log.info({ graceMs }, 'draining: refusing new joins, telling clients');
        for (const room of rooms.rooms.values()) room.broadcast('draining', { retryAfterMs: graceMs });
        await new Promise((r) => setTimeout(r, graceMs));
      },
      close() {
        closing ??= (async () => {
          draining = true;
          // First, while media still flows: every recording's files are closed cleanly.
          await recordings.close();
          await cascade?.close();
          mediaSessions.closeAll();
          rooms.closeAll('server shutting down');
          signaling.close();
          closeUws(socket);
          await httpApp.close();
          await clusterBans?.close();
          await clusterPresence?.close();
          clusterControl?.close();
          await cluster?.close();
          pool.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    if (listenSocket) closeUws(listenSocket);
    await http?.close();
    await clusterBans?.close();
    await cascade?.close();
    await clusterPresence?.close();
    clusterControl?.close();
    await redisLink?.redis.close();
    pool.close();
    throw err;
  }
}
