import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type { IceServer } from './types.js';

/** The one method the SDK calls on its `httpClient`; tests pass one aimed at a local stand-in. */
export type TwilioHttpClient = Pick<RequestClient, 'request'>;

/** An entry of Twilio's `ice_servers` (the SDK keeps the wire names). */
export interface TwilioIceServer {
  url?: string | undefined;
  urls?: string | string[] | undefined;
  username?: string | undefined;
  credential?: string | undefined;
}

export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** Twilio sends both `url` (legacy) and `urls` per entry; prefer `urls`, drop entries with neither. */
export function mapTwilioIceServers(list: readonly TwilioIceServer[] | null | undefined): IceServer[] {
  const out: IceServer[] = [];
  for (const s of list ?? []) {
    const raw = s.urls ?? s.url;
    const urls = (Array.isArray(raw) ? raw : [raw]).filter((u): u is string => typeof u === 'string' && u.length > 0);
    if (!urls.length) continue;
    out.push({
      urls,
      ...(s.username ? { username: s.username } : {}),
      ...(s.credential ? { credential: s.credential } : {}),
    });
  }
  return out;
}

/** Rejects with TimeoutError after `ms`; the underlying work is not cancelled. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(ms)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export interface TwilioTokenSourceOptions {
  /** Replaces the SDK's own HTTPS client (tests). */
  httpClient?: TwilioHttpClient | undefined;
  /** How long one caller waits for Twilio. */
  timeoutMs: number;
  /** Share of a token's lifetime during which it is handed out again (0 = never). */
  cacheFraction: number;
  now: () => number;
}

interface Token {
  iceServers: IceServer[];
  ttl: number;
  fetchedAt: number;
}

/**
 * Twilio Network Traversal Service tokens. Tokens are account-wide (not per
 * peer), so one is reused for part of its lifetime: a crowd joining a stage
 * costs one API call, not one per viewer. Concurrent misses share one call.
 */
export class TwilioTokenSource {
  private readonly client: twilio.Twilio;
  private token: Token | undefined;
  private inflight: Promise<Token> | undefined;

  constructor(
    cfg: { accountSid: string; authToken: string },
    private readonly ttlSeconds: number,
    private readonly opts: TwilioTokenSourceOptions,
  ) {
    this.client = twilio(cfg.accountSid, cfg.authToken, {
      // The SDK only ever calls request() on it.
      httpClient: opts.httpClient as RequestClient | undefined,
      // Bounds a hung call so a later request can start a fresh one; callers stop waiting at timeoutMs.
      timeout: Math.max(10_000, opts.timeoutMs),
    });
  }

  /** A token with its remaining lifetime; `cached` tells whether Twilio was asked. */
  async get(): Promise<{ iceServers: IceServer[]; ttl: number; cached: boolean }> {
    const now = this.opts.now();
    const t = this.token;
    if (t && now < t.fetchedAt + t.ttl * 1000 * this.opts.cacheFraction) {
      return { iceServers: t.iceServers, ttl: t.ttl - Math.floor((now - t.fetchedAt) / 1000), cached: true };
    }
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    const fresh = await withTimeout(this.inflight, this.opts.timeoutMs);
    return { iceServers: fresh.iceServers, ttl: fresh.ttl, cached: false };
  }

  private async fetch(): Promise<Token> {
    const res = await this.client.tokens.create({ ttl: this.ttlSeconds });
    const iceServers = mapTwilioIceServers(res.iceServers);
    if (!iceServers.length) throw new Error('Twilio token has no ice_servers');
    // Twilio sends ttl as a string; trust what we asked for if it is unusable.
    const ttl = Number.parseInt(res.ttl, 10);
    // Filled even when the caller already timed out: the next request benefits.
    this.token = { iceServers, ttl: ttl > 0 ? ttl : this.ttlSeconds, fetchedAt: this.opts.now() };
    return this.token;
  }
}
