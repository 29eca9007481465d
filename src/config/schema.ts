import os from 'node:os';
import { z } from 'zod';

// Every variable Fourcast reads. The keys are the environment variable names,
// so an error can always name the variable the user has to fix. Each entry's
// description is the one-line doc used by `.env.example` and the README table.

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = (min: number) => z.coerce
  .number({ message: 'expected a port number' })
  .int('expected an integer port')
  .min(min, `expected a port between ${min} and 65535`)
  .max(65535, `expected a port between ${min} and 65535`);

const ip = z.union([z.ipv4(), z.ipv6()], { message: 'expected an IPv4 or IPv6 address' });

const urlList = (schemes: string[]) =>
  z
    .string()
    .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
    .pipe(
      z.array(
        z.string().refine((u) => schemes.some((p) => u.startsWith(`${p}:`)), {
          message: `expected a comma-separated list of ${schemes.join('/')}: URLs`,
        }),
      ),
    );

const positiveInt = (max: number) =>
  z.coerce.number({ message: 'expected a whole number' }).int('expected a whole number').min(1, 'expected at least 1').max(max, `expected at most ${max}`);

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development').describe('Runtime mode; `production` makes logs JSON by default.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto').describe('`json`, `pretty`, or `auto` (pretty on a terminal outside production).'),

  HTTP_HOST: ip.default('0.0.0.0').describe('Address Fastify (HTTP: client, /api, /metrics, /admin) listens on.'),
  TRUST_PROXY: z
    .string()
    .regex(/^(false|true|\d{1,2}|[0-9a-fA-F.:/,\s]+)$/, 'expected false, true, a hop count, or comma-separated proxy addresses/CIDRs')
    .default('false')
    .describe('Which X-Forwarded-For hops to believe for client addresses (rate limits): `false`, a hop count, or proxy addresses. `true` trusts any client-supplied header.'),
  HTTP_PORT: port(0).default(3000).describe('HTTP port (0 = any free port).'),
  WS_HOST: ip.default('0.0.0.0').describe('Address the uWebSockets.js signaling/chat server listens on.'),
  WS_PORT: port(0).default(3001).describe('WebSocket port, path `/ws` (0 = any free port).'),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, message: 'expected an absolute http:// or https:// URL' })
    .optional()
    .describe('Base URL people open (printed links, admin token links); default `http(s)://localhost:HTTP_PORT`. Behind a proxy: its public https:// URL.'),
  PUBLIC_WS_URL: z
    .url({ protocol: /^wss?$/, message: 'expected an absolute ws:// or wss:// URL' })
    .optional()
    .describe('WebSocket URL given to browsers. Default: the page\'s own origin + `/ws` when the page came through a trusted proxy (TRUST_PROXY) or PUBLIC_URL is set with TRUST_PROXY; else the page\'s host at WS_PORT.'),
  TLS_CERT_FILE: z.string().min(1).optional().describe('PEM certificate (with chain) for built-in TLS: HTTPS on HTTP_PORT and WSS on WS_PORT. Reloaded on SIGHUP. Leave unset behind a TLS-terminating proxy.'),
  TLS_KEY_FILE: z.string().min(1).optional().describe('PEM private key of TLS_CERT_FILE (unencrypted; readable by the service user only).'),

  MEDIASOUP_WORKERS: z.union([z.literal('auto'), positiveInt(256)]).default('auto').describe('Number of mediasoup workers; `auto` = one per CPU core.'),
  MEDIASOUP_LOG_LEVEL: z.enum(['debug', 'warn', 'error', 'none']).default('warn').describe('mediasoup worker log level.'),
  RTC_LISTEN_IP: ip.default('0.0.0.0').describe('Address the WebRtcServers bind to (`127.0.0.1` in tests).'),
  RTC_ANNOUNCED_ADDRESS: z
    .string()
    .min(1)
    .refine((v) => !['0.0.0.0', '::', '[::]'].includes(v), 'expected an address browsers can reach (a public IP or hostname); 0.0.0.0/:: only means "every interface" when listening')
    .optional()
    .describe('Public IP or hostname put in ICE candidates. Unset with RTC_LISTEN_IP 0.0.0.0: the host\'s primary address and 127.0.0.1 are detected and printed at start; set it behind NAT or in a container.'),
  ROUTER_MAX_VIEWERS: positiveInt(100000).default(500).describe('Viewers per router before the next viewer goes to a fan-out router on another worker.'),
  KEYFRAME_REQUEST_DELAY_MS: z.coerce.number({ message: 'expected milliseconds' }).int().min(0).max(10000).default(1000).describe('At most one key frame request per broadcaster track per this many ms (protects broadcasters from large audiences).'),
  ROOM_GRACE_SECONDS: z.coerce.number({ message: 'expected seconds' }).min(0).max(86400).default(30).describe('An empty room is closed after this many seconds.'),
  DRAIN_GRACE_SECONDS: z.coerce.number({ message: 'expected seconds' }).min(0).max(3600).default(10).describe('On SIGTERM/SIGINT: refuse new joins, tell clients, close after this many seconds.'),
  RTC_PORT_BASE: port(1).default(40000).describe('Worker i listens for WebRTC on UDP+TCP port RTC_PORT_BASE + i.'),

  TOKEN_SECRET: z.string().min(32, 'expected at least 32 characters').optional().describe('HMAC secret for access tokens (JWT HS256); random at each start when unset.'),
  METRICS_TOKEN: z.string().min(16, 'expected at least 16 characters').optional().describe('When set, `/metrics` requires `Authorization: Bearer <token>`.'),
  ADMIN_TOKEN: z.string().min(16, 'expected at least 16 characters').optional().describe('Bearer token for `/admin/*`; admin routes are disabled when unset.'),

  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'expected a Twilio account SID (AC + 32 hex digits)').optional().describe('Twilio account SID for TURN tokens.'),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional().describe('Twilio auth token.'),
  TURN_SECRET: z.string().min(8, 'expected at least 8 characters').optional().describe('coturn `static-auth-secret` for REST credentials.'),
  TURN_URLS: urlList(['turn', 'turns']).optional().describe('Comma-separated TURN URLs served with coturn credentials.'),
  STUN_URLS: urlList(['stun', 'stuns']).default(['stun:stun.l.google.com:19302']).describe('Comma-separated STUN URLs (the STUN-only fallback).'),
  TURN_RATE_PER_MINUTE: positiveInt(100000).default(30).describe('`GET /api/turn` requests per client address per minute (raise it when many users share one NAT).'),
  TURN_TTL_SECONDS: positiveInt(86400).default(3600).describe('Lifetime of TURN credentials.'),

  REDIS_URL: z.url({ message: 'expected a redis:// URL' }).refine((u) => /^rediss?:/.test(u), 'expected a redis:// or rediss:// URL').optional().describe('Joins nodes into a cluster; single node when unset.'),

  CHAT_HISTORY: positiveInt(10000).default(25).describe('Chat messages kept per room and sent on join.'),
  CHAT_MAX_LENGTH: positiveInt(4000).default(500).describe('Longest chat message, in characters after normalisation.'),
  CHAT_RATE_PER_SECOND: z.coerce.number({ message: 'expected a number' }).positive('expected a positive number').max(1000).default(1).describe('Sustained chat messages per second per participant (moderators are exempt).'),
  CHAT_BURST: positiveInt(1000).default(5).describe('Chat messages a participant may send in a burst.'),
  PARTICIPANT_LIST_MAX: z.coerce.number({ message: 'expected a whole number' }).int().min(0).max(10000).default(50).describe('Rooms with at most this many people also push the participant list (larger rooms: the count only).'),
  WS_REQUESTS_PER_SECOND: positiveInt(100000).default(50).describe('Protocol requests per second per connection (burst: 4×); excess requests get `rate-limited`.'),
  WS_MAX_BUFFER_BYTES: positiveInt(64 * 1024 * 1024).default(512 * 1024).describe('A client whose unsent WebSocket data exceeds this is dropped as too slow (bounded memory per client).'),
  DEFAULT_ROOM: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, _ or -').default('main-stage').describe('Room used in the links printed at start.'),
  FOURCAST_CONFIG_FILE: z.string().min(1).optional().describe('Optional JSON file of these same variables (e.g. `config/production.json`); the environment wins.'),
  ALLOW_ANONYMOUS_VIEWERS: bool.default(true).describe('Viewers may join without a token (rooms can still require one).'),
});

export type RawConfig = z.output<typeof configSchema>;

/** Seed-compatible names accepted as aliases of the canonical variable. */
export const aliases: Record<string, keyof RawConfig> = {
  TWILIO_SSID: 'TWILIO_ACCOUNT_SID',
  TWILIO_TOKEN: 'TWILIO_AUTH_TOKEN',
};

export function defaultWorkerCount(): number {
  return Math.max(1, os.availableParallelism());
}
