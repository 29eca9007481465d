import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';

/** Raised for a REDIS_URL that cannot be used; the message says what a valid one looks like. */
export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

/** Raised by `RedisConnection.waitConnected` when Redis does not answer in time, or the connection was closed. */
export class RedisUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

export interface RedisConnectionOptions {
  /**
   * A command that gets no reply within this many ms fails with "Command timed out"
   * instead of waiting (a Redis that is up but stuck). Default 2000. A timed-out write
   * may still have been applied by Redis.
   */
  commandTimeoutMs?: number;
  /** How long one connection attempt may take before it is abandoned and retried (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** First reconnection delay (ms); it doubles on each failed attempt. Default 100. */
  reconnectBaseMs?: number;
  /** Longest reconnection delay (ms); attempts go on forever at this pace. Default 5000. */
  reconnectMaxMs?: number;
  /** Shown in `CLIENT LIST` on the Redis side, e.g. the node id. Default `fourcast`. */
  name?: string;
}

/**
 * `connecting`: never reached Redis yet. `connected`: both connections (commands and
 * pub/sub) are ready. `degraded`: Redis was lost or could not be reached; reconnecting.
 * `closed`: `close()` was called.
 */
export type RedisHealthState = 'connecting' | 'connected' | 'degraded' | 'closed';

export interface RedisHealth {
  state: RedisHealthState;
  /** When the state last changed (ms since the epoch). */
  since: number;
  /** The last connection error, if any (kept after recovery, for operators). */
  lastError: string | undefined;
  /** The URL without its password. */
  url: string;
}

export interface RedisConnectionEvents {
  /** Both connections are ready again (or for the first time). */
  connected: [];
  /** Redis was lost or could not be reached; commands fail fast until `connected`. */
  degraded: [reason: string];
  closed: [];
}

/** Who listens on a pub/sub channel through `RedisConnection.subscribe`. */
export interface ChannelListener {
  message(payload: string): void;
  /**
   * The channel's subscription became active: the first time and again after each
   * reconnection. Messages published while it was not active are lost; this is the
   * moment to catch up from stored state.
   */
  subscribed?(): void;
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS) into ioredis
 * options. Throws RedisUrlError with what a valid URL looks like.
 */
export function parseRedisUrl(url: string): Pick<RedisOptions, 'host' | 'port' | 'db' | 'username' | 'password' | 'tls'> {
  const example = 'expected redis://host:port/db, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS)';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RedisUrlError(`REDIS_URL ${JSON.stringify(redactRedisUrl(url))} is not a URL: ${example}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new RedisUrlError(`REDIS_URL scheme ${JSON.stringify(u.protocol)} is not supported: ${example}`);
  }
  if (!u.hostname) throw new RedisUrlError(`REDIS_URL has no host: ${example}`);
  const port = u.port ? Number(u.port) : 6379;
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) {
    throw new RedisUrlError(`REDIS_URL database ${JSON.stringify(path)} is not a number: ${example}`);
  }
  if (u.search || u.hash) throw new RedisUrlError(`REDIS_URL takes no query string or fragment: ${example}`);
  return {
    // URL keeps IPv6 literals in brackets; sockets want them bare.
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: path === '' ? 0 : Number(path),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

/** The URL with any password replaced by `***`, for logs and health output. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

/** Reconnection delay for attempt `n` (1-based): doubling from `baseMs`, capped at `maxMs`, ±20 % jitter so nodes do not reconnect in step. */
export function reconnectDelay(n: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, n - 1)));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

/**
 * A node's link to Redis: one connection for commands and one for pub/sub (a
 * subscribed Redis connection can run nothing else), a health state for `/ready`, and
 * reference-counted channel subscriptions that come back by themselves after a
 * reconnection.
 *
 * While Redis is away, commands fail at once instead of queueing (no offline queue),
 * a command in flight when the connection drops fails instead of being sent again
 * (`maxRetriesPerRequest: 0`: a chat append must not run twice), and a command that gets
 * no reply fails after `commandTimeoutMs`. Reconnection goes on forever with backoff.
 */
export class RedisConnection extends EventEmitter<RedisConnectionEvents> {
  /** Commands (never put into subscriber mode). */
  readonly client: Redis;
  /** Pub/sub only: use `subscribe()`, which survives reconnections. */
  private readonly sub: Redis;
  private readonly url: string;
  private stateValue: RedisHealthState = 'connecting';
  private sinceValue = Date.now();
  private lastErrorValue: string | undefined;
  private readonly channels = new Map<string, Set<ChannelListener>>();
  /** Channels whose SUBSCRIBE Redis acknowledged on the current pub/sub connection. */
  private readonly active = new Set<string>();

  constructor(url: string, opts: RedisConnectionOptions = {}) {
    super();
    // One 'connected' listener per followed room (ChatSubscription) is normal here.
    this.setMaxListeners(0);
    this.url = redactRedisUrl(url);
    const base = opts.reconnectBaseMs ?? 100;
    const max = opts.reconnectMaxMs ?? 5000;
    const options: RedisOptions = {
      ...parseRedisUrl(url),
      connectionName: opts.name ?? 'fourcast',
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      connectTimeout: opts.connectTimeoutMs ?? 5000,
      // Never give up (a number, never null): the node keeps serving and comes back with Redis.
      retryStrategy: (times) => reconnectDelay(times, base, max),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      // Subscriptions are restored here (restoreSubscriptions), so listeners learn when to catch up.
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      lazyConnect: false,
    };
    this.client = new Redis(options);
    this.sub = new Redis({ ...options, connectionName: `${options.connectionName}:sub` });
    for (const c of [this.client, this.sub]) {
      // Without an 'error' listener ioredis errors would be unhandled and end the process.
      c.on('error', (err: Error) => {
        this.lastErrorValue = err.message;
        this.update();
      });
      c.on('ready', () => this.update());
      c.on('close', () => {
        // A clean close (Redis shut down) comes without an 'error'.
        if (this.stateValue === 'connected') this.lastErrorValue = 'connection closed';
        this.update();
      });
      c.on('reconnecting', () => this.update());
      c.on('end', () => this.update());
    }
    this.sub.on('ready', () => this.restoreSubscriptions());
    this.sub.on('close', () => this.active.clear());
    this.sub.on('message', (channel: string, payload: string) => {
      for (const l of this.channels.get(channel) ?? []) l.message(payload);
    });
  }

  get state(): RedisHealthState {
    return this.stateValue;
  }

  get closed(): boolean {
    return this.stateValue === 'closed';
  }

  health(): RedisHealth {
    return { state: this.stateValue, since: this.sinceValue, lastError: this.lastErrorValue, url: this.url };
  }

  /** Resolves once connected; rejects with RedisUnavailableError after `timeoutMs` or on close. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.stateValue === 'connected') return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(new RedisUnavailableError('the Redis connection is closed'));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('connected', onConnected);
        this.off('closed', onClosed);
        if (err) reject(err);
        else resolve();
      };
      const onConnected = () => done();
      const onClosed = () => done(new RedisUnavailableError('the Redis connection was closed while waiting for it'));
      const timer = setTimeout(
        () => done(new RedisUnavailableError(`Redis at ${this.url} not reachable within ${timeoutMs} ms (${this.lastErrorValue ?? 'no answer'}): is redis-server running, and REDIS_URL right?`)),
        timeoutMs,
      );
      this.on('connected', onConnected);
      this.on('closed', onClosed);
    });
  }

  /** Publishes `payload` on `channel`; resolves to the number of Redis subscribers that received it (one per node). */
  publish(channel: string, payload: string): Promise<number> {
    return this.client.publish(channel, payload);
  }

  /**
   * Listens on a channel. The first listener of a channel subscribes (now, or as soon as
   * Redis is reachable); the last one to leave unsubscribes. Returns the function that
   * stops listening.
   */
  subscribe(channel: string, listener: ChannelListener): () => void {
    if (this.closed) throw new RedisUnavailableError('the Redis connection is closed');
    let listeners = this.channels.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.channels.set(channel, listeners);
      listeners.add(listener);
      void this.subscribeNow([channel]);
    } else {
      listeners.add(listener);
      if (this.active.has(channel)) queueMicrotask(() => listener.subscribed?.());
    }
    const set = listeners;
    return () => {
      if (!set.delete(listener) || set.size > 0 || this.channels.get(channel) !== set) return;
      this.channels.delete(channel);
      this.active.delete(channel);
      if (this.sub.status === 'ready') this.sub.unsubscribe(channel).catch(() => {});
    };
  }

  /** Closes both connections (no reconnection); pending commands fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.setState('closed');
    this.channels.clear();
    this.active.clear();
    // disconnect(), not quit(): quit needs a live connection and waits for one.
    this.client.disconnect();
    this.sub.disconnect();
    this.emit('closed');
  }

  private async subscribeNow(channels: string[]): Promise<void> {
    if (this.sub.status !== 'ready' || channels.length === 0) return; // 'ready' will subscribe them all
    try {
      await this.sub.subscribe(...channels);
    } catch {
      return; // the connection dropped: 'ready' subscribes again
    }
    for (const channel of channels) {
      const listeners = this.channels.get(channel);
      if (!listeners || this.active.has(channel)) continue;
      this.active.add(channel);
      for (const l of listeners) l.subscribed?.();
    }
  }

  private restoreSubscriptions(): void {
    this.active.clear();
    void this.subscribeNow([...this.channels.keys()]);
  }

  private update(): void {
    if (this.closed) return;
    const ready = this.client.status === 'ready' && this.sub.status === 'ready';
    if (ready) this.setState('connected');
    else if (this.stateValue === 'connected' || this.lastErrorValue !== undefined) this.setState('degraded');
  }

  private setState(state: RedisHealthState): void {
    if (this.stateValue === state) return;
    const was = this.stateValue;
    this.stateValue = state;
    this.sinceValue = Date.now();
    if (state === 'connected') this.emit('connected');
    else if (state === 'degraded' && was !== 'closed') this.emit('degraded', this.lastErrorValue ?? 'connection lost');
  }
}

/**
 * A Lua script run by its SHA1 (EVALSHA), sent in full only when Redis does not know it
 * yet (NOSCRIPT: first use, or after Redis restarted). A script runs atomically: no other
 * client's command runs in the middle of it.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly lua: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(client: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) throw new Error(`script takes ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // NOSCRIPT means nothing ran: sending the body is safe.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
