import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { coturnCredentials } from './coturn.js';
import { stunCredentials } from './stun.js';
import { TimeoutError, TwilioTokenSource, type TwilioHttpClient } from './twilio.js';
import type { TurnCredentials, TurnOutcome, TurnProviderName } from './types.js';

export type { IceServer, TurnCredentials, TurnOutcome, TurnProviderName } from './types.js';
export type { TwilioHttpClient } from './twilio.js';

export interface TurnServiceOptions {
  /** Replaces the Twilio SDK's HTTPS client (tests point it at a local stand-in). */
  twilioHttpClient?: TwilioHttpClient;
  /** How long a request waits for Twilio before falling through. Default 3000. */
  timeoutMs?: number;
  /** Share of a Twilio token's lifetime it is reused for, in [0, 1). Default 0.5. */
  cacheFraction?: number;
  /** One call per provider attempt; metrics hook. */
  onOutcome?: (provider: TurnProviderName, outcome: TurnOutcome) => void;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

/**
 * ICE servers for a browser: Twilio when configured, else (or when Twilio
 * fails or is slow) coturn REST credentials, else STUN only. Never throws for
 * a provider failure: a peer without TURN still connects on most networks.
 */
export class TurnService {
  /** The providers that will be tried, in order (for the startup log). */
  readonly chain: readonly TurnProviderName[];
  private readonly twilio: TwilioTokenSource | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly onOutcome: TurnServiceOptions['onOutcome'];

  constructor(
    private readonly cfg: Config['turn'],
    log: Logger,
    opts: TurnServiceOptions = {},
  ) {
    const timeoutMs = opts.timeoutMs ?? 3000;
    const cacheFraction = opts.cacheFraction ?? 0.5;
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0');
    // 1 would hand out tokens up to their last second, useless to a peer.
    if (!(cacheFraction >= 0 && cacheFraction < 1)) throw new RangeError('cacheFraction must be in [0, 1)');
    this.log = log.child({ component: 'turn' });
    this.now = opts.now ?? Date.now;
    this.onOutcome = opts.onOutcome;
    this.twilio = cfg.twilio
      ? new TwilioTokenSource(cfg.twilio, cfg.ttlSeconds, { httpClient: opts.twilioHttpClient, timeoutMs, cacheFraction, now: this.now })
      : undefined;
    this.chain = [...(cfg.twilio ? ['twilio' as const] : []), ...(cfg.coturn ? ['coturn' as const] : []), 'stun'];
  }

  /** `peer` names the coturn user (shows in coturn's logs); a random id when omitted. */
  async credentials(peer?: string): Promise<TurnCredentials> {
    if (this.twilio) {
      try {
        const t = await this.twilio.get();
        this.report('twilio', t.cached ? 'cached' : 'ok');
        return { iceServers: t.iceServers, ttl: t.ttl, provider: 'twilio' };
      } catch (err) {
        const outcome = err instanceof TimeoutError ? 'timeout' : 'error';
        this.report('twilio', outcome);
        this.log.warn({ err: errorSummary(err), outcome, fallback: this.chain[1] }, 'Twilio TURN token failed; falling back');
      }
    }
    if (this.cfg.coturn) {
      const creds = coturnCredentials(this.cfg.coturn, this.cfg.stunUrls, peer ?? randomPeerKey(), this.cfg.ttlSeconds, this.now());
      this.report('coturn', 'ok');
      return creds;
    }
    this.report('stun', 'ok');
    return stunCredentials(this.cfg.stunUrls, this.cfg.ttlSeconds);
  }

  private report(provider: TurnProviderName, outcome: TurnOutcome): void {
    try {
      this.onOutcome?.(provider, outcome);
    } catch (err) {
      // A broken metrics hook must not cost a peer its ICE servers.
      this.log.error({ err }, 'TURN onOutcome hook threw');
    }
  }
}

/** 12 URL-safe characters: matches PEER_KEY_PATTERN. */
function randomPeerKey(): string {
  return randomBytes(9).toString('base64url');
}

/**
 * Only the fields worth logging. The SDK's errors can carry the HTTP request
 * (axios `config.headers.Authorization` = Basic SID:auth-token), which a full
 * error serializer would write to the log.
 */
export function errorSummary(err: unknown): { type: string; message: string; status?: unknown; code?: unknown } {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const e = err as Error & { status?: unknown; code?: unknown };
  return {
    type: e.name,
    message: e.message,
    ...(e.status !== undefined ? { status: e.status } : {}),
    ...(e.code !== undefined ? { code: e.code } : {}),
  };
}
