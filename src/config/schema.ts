import os from 'node:os';
import { z } from 'zod';

// Every variable Fourcast reads. The keys are the environment variable names,
// so an error can always name the variable the user has to fix. Each entry's
// description is the one-line doc used by `.env.example`, the table in
// docs/configuration.md and `--help` (`npm run config:docs` regenerates the files).
// Keep each description true of the code that reads the variable.

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
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development').describe('Runtime mode. With `production`, LOG_FORMAT=auto writes JSON even on a terminal and PRINT_LINKS=auto prints no broadcaster link at start.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level (`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`).'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto').describe('`json`, `pretty`, or `auto` (pretty on a terminal outside production, else JSON). `pretty` needs the pino-pretty dev dependency, absent after `npm ci --omit=dev`.'),

  HTTP_HOST: ip.default('0.0.0.0').describe('Address the HTTP server (Fastify: pages, /api, /health, /ready, /metrics, /admin) listens on; `127.0.0.1` behind a reverse proxy on the same host.'),
  TRUST_PROXY: z
    .string()
    .regex(/^(false|true|\d{1,2}|[0-9a-fA-F.:/,\s]+)$/, 'expected false, true, a hop count, or comma-separated proxy addresses/CIDRs')
    .default('false')
    .describe('Which proxies\' X-Forwarded-For/-Proto/-Host headers to believe: `false`, a hop count, or comma-separated proxy addresses/CIDRs (e.g. `127.0.0.1`). Gives the client address (`GET /api/turn` rate limit, WebSocket bans and limits per address) and, for pages that came through a trusted proxy, the default WebSocket URL (same origin + `/ws`). `true` believes any client-supplied header.'),
  HTTP_PORT: port(0).default(3000).describe('HTTP port (0 = any free port).'),
  WS_HOST: ip.default('0.0.0.0').describe('Address the uWebSockets.js signaling/chat server listens on; `127.0.0.1` behind a reverse proxy on the same host.'),
  WS_PORT: port(0).default(3001).describe('WebSocket port, path `/ws` (0 = any free port).'),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, message: 'expected an absolute http:// or https:// URL' })
    .optional()
    .describe('Base URL people open (http:// or https://): the links printed at start and those of `POST /admin/tokens`. Default `http://localhost:HTTP_PORT` (`https://` with built-in TLS). Behind a proxy: its public https:// URL.'),
  PUBLIC_WS_URL: z
    .url({ protocol: /^wss?$/, message: 'expected an absolute ws:// or wss:// URL' })
    .optional()
    .describe('WebSocket URL given to browsers (ws:// or wss://; wss:// when pages are https). Default: for a page that came through a trusted proxy (TRUST_PROXY), the page\'s own origin + `/ws`; otherwise the host the page was opened on, at WS_PORT, path `/ws` (wss:// with built-in TLS).'),
  TLS_CERT_FILE: z.string().min(1).optional().describe('PEM certificate (with chain) for built-in TLS: HTTPS on HTTP_PORT and WSS on WS_PORT. Re-read on SIGHUP (WebSocket clients that send no SNI, e.g. to a bare IP, keep the old one until restart). Leave unset behind a TLS-terminating proxy.'),
  TLS_KEY_FILE: z.string().min(1).optional().describe('PEM private key of TLS_CERT_FILE (unencrypted; readable by the service user only). A key that does not match the certificate stops the start (exit 78).'),

  MEDIASOUP_WORKERS: z.union([z.literal('auto'), positiveInt(256)], { message: 'expected auto or a whole number from 1 to 256' }).default('auto').describe('Number of mediasoup workers, one WebRtcServer port each; `auto` = one per CPU core (fix it in containers and wherever the media ports are published one by one).'),
  MEDIASOUP_LOG_LEVEL: z.enum(['debug', 'warn', 'error', 'none']).default('warn').describe('mediasoup worker log level (`debug`, `warn`, `error` or `none`).'),
  RTC_LISTEN_IP: ip.default('0.0.0.0').describe('Address the WebRtcServers bind to. With `0.0.0.0` (or `::`) and no RTC_ANNOUNCED_ADDRESS, each worker binds the host\'s primary address and 127.0.0.1 instead (with `::`, also the primary IPv6 address and ::1) and announces those; with RTC_ANNOUNCED_ADDRESS it binds this address as given.'),
  RTC_ANNOUNCED_ADDRESS: z
    .string()
    .min(1)
    .refine((v) => !['0.0.0.0', '::', '[::]'].includes(v), 'expected an address browsers can reach (a public IP or hostname); 0.0.0.0/:: only means "every interface" when listening')
    .optional()
    .describe('Public IP or hostname browsers send media to (put in ICE candidates). Unset: the addresses RTC_LISTEN_IP leads to (printed at start). Set it behind NAT, in a container without host networking, or for viewers on the internet; `0.0.0.0` and `::` are refused.'),
  ROUTER_MAX_VIEWERS: positiveInt(100000).default(500).describe('Most viewers of one room on one router (a room has at most one router per worker). A viewer goes to the least-loaded worker whose router for the room is below this; when all are full, to the least-filled one anyway.'),
  WORKER_CPU_HEADROOM: z.coerce.number({ message: 'expected a share of one core, e.g. 0.85' }).min(0.05, 'expected at least 0.05').max(1, 'expected at most 1 (one core: a worker is one thread)').default(0.85).describe('Share of one core a mediasoup worker may use and still get new rooms and viewers (its CPU is sampled every 2 s). When every worker is past it, or not answering, joins that need a new router are refused with `server-busy` (counted in fourcast_limit_refusals_total).'),
  WORKER_MAX_PACKET_RATE: positiveInt(100000000).default(32000).describe('Packets per second one mediasoup worker may be asked to send. Each receiver placed on a worker (a viewer, a broadcaster watching co-hosts, an edge node\'s pipe) reserves VIEWER_PACKET_RATE of it from the moment it is placed; a worker whose budget is spent takes no new viewers or rooms, and a node with none left refuses them with `server-busy`. The default holds with margin on the slowest machine `npm run bench:viewers` has run on (one worker core forwarded 44,000 SRTP packets/s to browser-shaped viewers at 0 loss on a 2-core EPYC VM one day, 90,000 on another day: bench/results/viewers-*.md); run that bench on your hardware and set it from its "pkt/s per core" column, with some margin. Broadcasters\' own receive transports and edge nodes\' pipes are placed past it (reserving all the same), so a show on a full node goes on and a local viewer cannot shut out a whole edge\'s audience.'),
  VIEWER_PACKET_RATE: positiveInt(100000).default(400).describe('Packets per second reserved for each receiver against WORKER_MAX_PACKET_RATE: what a viewer of a full stage gets (4 × Opus at 50 packets/s plus 4 × 640×360 VP8 at about 48 packets/s, measured 394 in `npm run bench:viewers`). Reserved whatever the stage holds now, because it can fill at any moment. Lower it for audio-only rooms, raise it for higher video bitrates.'),
  WORKER_UNRESPONSIVE_SAMPLES: positiveInt(1000).default(3).describe('Health samples in a row (one every 2 s) a mediasoup worker may leave unanswered before it is killed and replaced; it takes no new rooms or viewers from the first miss. Samples missed while the worker keeps using at least half a core (saturated, not wedged) do not count here: such a worker is left to recover, and killed only after about a minute of it.'),
  MAX_TRANSPORTS_PER_PEER: positiveInt(64).default(4).describe('WebRTC transports one participant may hold at once (a page uses one to send and one to receive); more are refused with `invalid-state` (counted in fourcast_limit_refusals_total).'),
  MAX_PRODUCERS_PER_PEER: positiveInt(64).default(2).describe('Producers one broadcaster may hold at once (one camera and one microphone); more are refused with `invalid-state` (counted in fourcast_limit_refusals_total).'),
  MAX_CONSUMERS_PER_PEER: positiveInt(1000).default(16).describe('Consumers one participant may hold at once (a full stage is 4 broadcasters × 2 tracks = 8); more are refused with `invalid-state` (counted in fourcast_limit_refusals_total).'),
  KEYFRAME_REQUEST_DELAY_MS: z.coerce.number({ message: 'expected milliseconds' }).int().min(0).max(10000).default(1000).describe('At most one key frame request per broadcaster video track per this many ms, however many viewers ask (0 = no limit).'),
  ROOM_GRACE_SECONDS: z.coerce.number({ message: 'expected seconds' }).min(0).max(86400).default(30).describe('An empty room is closed after this many seconds; its chat history goes with it.'),
  DRAIN_GRACE_SECONDS: z.coerce.number({ message: 'expected seconds' }).min(0).max(3600).default(10).describe('On SIGTERM/SIGINT: refuse new joins, tell clients, report not ready, close after this many seconds (a second signal closes at once). Keep a service manager\'s stop timeout above it.'),
  RTC_PORT_BASE: port(1).default(40000).describe('Worker i listens for WebRTC on UDP and TCP port RTC_PORT_BASE + i (open RTC_PORT_BASE to RTC_PORT_BASE + MEDIASOUP_WORKERS - 1); a replaced worker reuses its port.'),

  TOKEN_SECRET: z.string().min(32, 'expected at least 32 characters').optional().describe('HMAC secret for access tokens (JWT HS256), at least 32 characters. Unset: random at each start, so links stop working when the process restarts.'),
  METRICS_TOKEN: z.string().min(16, 'expected at least 16 characters').optional().describe('When set (at least 16 characters), `/metrics` requires `Authorization: Bearer <token>`.'),
  ADMIN_TOKEN: z.string().min(16, 'expected at least 16 characters').optional().describe('Bearer token (at least 16 characters) for `/admin/*`; unset, the admin routes do not exist (404).'),

  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'expected a Twilio account SID (AC + 32 hex digits)').optional().describe('Twilio account SID (AC + 32 hex digits): TURN through Twilio Network Traversal tokens, tried first. Needs TWILIO_AUTH_TOKEN.'),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional().describe('Twilio auth token (needs TWILIO_ACCOUNT_SID).'),
  TURN_SECRET: z.string().min(8, 'expected at least 8 characters').optional().describe('coturn `static-auth-secret` (at least 8 characters): time-limited REST credentials for TURN_URLS, used when Twilio is not configured or fails. Needs TURN_URLS.'),
  TURN_URLS: urlList(['turn', 'turns']).optional().describe('Comma-separated turn:/turns: URLs served with the coturn credentials; required with TURN_SECRET.'),
  STUN_URLS: urlList(['stun', 'stuns']).default(['stun:stun.l.google.com:19302']).describe('Comma-separated stun:/stuns: URLs given to browsers with coturn credentials and as the STUN-only fallback (Twilio sends its own).'),
  TURN_RATE_PER_MINUTE: positiveInt(100000).default(30).describe('`GET /api/turn` requests per client address per minute (raise it when many users share one NAT).'),
  TURN_TTL_SECONDS: positiveInt(86400).default(3600).describe('Lifetime of TURN credentials: coturn credentials expire after it; Twilio tokens are requested with it and reused for half of it.'),

  REDIS_URL: z
    .string()
    .refine((u) => /^rediss?:\/\/./.test(u) && URL.canParse(u), 'expected a redis:// or rediss:// URL')
    .optional()
    .describe('Cluster mode: with a redis:// or rediss:// URL nodes register in Redis (a heartbeat; `GET /admin/cluster` lists them and the rooms each hosts). A room\'s broadcasters go live on its origin node and every other node relays them to its viewers through one pipe per track (RTC_LISTEN_IP is where pipes listen: a private address between nodes). Chat is one log for all nodes (a client resumes on any node), bans and kicks hold on every node, viewer counts add up, metrics carry a `node` label. With Redis away a node keeps serving (chat answers `unavailable`) and `/ready` reports it degraded.'),

  CHAT_HISTORY: positiveInt(10000).default(25).describe('Chat messages kept per room and sent on join.'),
  CHAT_MAX_LENGTH: positiveInt(4000).default(500).describe('Longest chat message, in characters after normalisation.'),
  CHAT_RATE_PER_SECOND: z.coerce.number({ message: 'expected a number' }).positive('expected a positive number').max(1000).default(1).describe('Sustained chat messages per second per participant (moderators are exempt).'),
  CHAT_BURST: positiveInt(1000).default(5).describe('Chat messages a participant may send in a burst.'),
  CHAT_ADDRESS_RATE_PER_SECOND: z.coerce.number({ message: 'expected a number' }).positive('expected a positive number').max(10000).default(5).describe('Sustained chat messages per second from one client address, all its connections together (people behind one NAT share it; moderators are exempt).'),
  CHAT_ADDRESS_BURST: positiveInt(10000).default(20).describe('Chat messages one client address may send in a burst, all its connections together.'),
  WS_MAX_CONNECTIONS_PER_ADDRESS: positiveInt(100000).default(100).describe('Signaling WebSocket connections one client address may hold open; more are refused at upgrade with 429 `too-many-connections` (counted in fourcast_limit_refusals_total). Raise it when many viewers share one NAT.'),
  ROOMS_MAX: positiveInt(1000000).default(1000).describe('Rooms open at once on this node; a join that would open another is refused with `server-busy` (counted in fourcast_limit_refusals_total).'),
  ROOMS_PER_ADDRESS: positiveInt(100000).default(10).describe('Rooms one client address may have opened (by being the first to join) and still open; more are refused with `rate-limited`.'),
  BAN_SECONDS: positiveInt(365 * 86400).default(86400).describe('How long a ban (by a moderator or `/admin/.../ban`) lasts. Bans are kept per room, so they outlive the room closing; a single node forgets them when it restarts, a cluster (REDIS_URL) keeps them in Redis. They apply to the token and the client address (see TRUST_PROXY).'),
  PRINT_LINKS: z.enum(['auto', 'true', 'false']).default('auto').describe('Print a 12-hour broadcaster link (with its token) at start: `auto` = unless NODE_ENV is `production` (which prints how to mint one instead), `true` = always, `false` = never.'),
  PARTICIPANT_LIST_MAX: z.coerce.number({ message: 'expected a whole number' }).int().min(0).max(10000).default(50).describe('Rooms with at most this many people also push the participant list (larger rooms: the count only).'),
  CALLS: z
    .enum(['everyone', 'hosts', 'off'])
    .default('everyone')
    .describe('Private 1:1 calls between participants of a room (through the SFU, on a router of their own, invisible to the audience): `everyone` = any two participants, `hosts` = broadcasters and admins among themselves, `off` = none. A person is in at most one call.'),
  CALL_RING_SECONDS: positiveInt(600).default(30).describe('An unanswered call ends (reason `no-answer`) after this many seconds.'),
  STAGE_INVITATION_SECONDS: positiveInt(3600).default(60).describe('An invitation to the stage (from a broadcaster to a viewer) expires after this many seconds unanswered.'),
  STAGE_GUEST_PUBLISH_SECONDS: positiveInt(600).default(30).describe('A viewer who accepted an invitation holds its stage slot this long to start its microphone (the browser asks for permission); without a producer by then it goes back to the audience.'),
  WHIP_RATE_PER_MINUTE: positiveInt(100000).default(30).describe('New WHIP/WHEP sessions (`POST /whip/:room`, `POST /whep/:room`) per client address per minute; more get 429 with Retry-After.'),
  WHIP_SESSIONS_PER_ADDRESS: positiveInt(100000).default(20).describe('WHIP and WHEP sessions one client address may hold at once; more are refused with 429 `rate-limited` (raise it when many players share one NAT).'),
  WHIP_CONNECT_SECONDS: positiveInt(600).default(30).describe('A WHIP/WHEP session whose ICE and DTLS have not connected this long after its POST is ended (the client went away).'),
  WHIP_DISCONNECT_SECONDS: positiveInt(600).default(10).describe('A connected WHIP/WHEP session whose ICE stays disconnected this long (mediasoup checks consent every few seconds) is ended; an encoder that comes back POSTs again.'),
  WS_REQUESTS_PER_SECOND: positiveInt(100000).default(50).describe('Protocol requests per second per connection (burst: 4×); excess requests get `rate-limited`.'),
  WS_MAX_BUFFER_BYTES: positiveInt(64 * 1024 * 1024).default(512 * 1024).describe('A client whose unsent WebSocket data exceeds this is dropped as too slow (close code 4008, counted in fourcast_ws_backpressure_drops_total).'),
  DEFAULT_ROOM: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, _ or -').default('main-stage').describe('Room used in the links printed at start.'),
  FOURCAST_CONFIG_FILE: z.string().min(1).optional().describe('Optional JSON file of these same variables (see `config/production.example.json`); the environment and the env file win over it.'),
  FOURCAST_ENV_FILE: z
    .string()
    .min(1)
    .optional()
    .describe('Env file read at start instead of `./.env` (`--env-file=PATH` wins over it); a missing file is an error. Set it in the real environment (a service unit, a shell), not in an env file.'),
  RECORDING_DIR: z
    .string()
    .min(1, 'expected a folder path')
    .default('./recordings')
    .describe('Folder recordings are written to (`POST /admin/rooms/:room/recording`), relative to the working directory or absolute; each recording gets a folder `<room>-<start time>` in it with one file per broadcaster segment and a `manifest.json`. Created when the first recording starts; the service user must be able to write it.'),
  RECORDING_FFMPEG: z
    .string()
    .min(1, 'expected a command name or a path')
    .default('ffmpeg')
    .describe('The ffmpeg command recordings run (one process per broadcaster segment, copying RTP into WebM/Matroska without transcoding): a name looked up on PATH, or a path. Without it the node runs and recording start answers 503 naming it.'),
  ALLOW_ANONYMOUS_VIEWERS: bool.default(true).describe('Viewers may join any room without a token. `false`: everyone needs a token (server-wide; there is no per-room setting).'),
});

export type RawConfig = z.output<typeof configSchema>;

/** Variables whose values are never printed (errors say how long the value was, nothing more). */
export const secretVariables: ReadonlySet<string> = new Set(['TOKEN_SECRET', 'ADMIN_TOKEN', 'METRICS_TOKEN', 'TWILIO_AUTH_TOKEN', 'TURN_SECRET']);

/**
 * Variables Fourcast does not read itself but documents: a library reads them from the
 * process environment (an env file puts them there too, before that library loads).
 */
export const passthroughVariables: readonly { name: string; readBy: string; description: string }[] = [
  {
    name: 'MEDIASOUP_WORKER_BIN',
    readBy: 'mediasoup',
    description:
      'Path of the mediasoup-worker binary to run instead of `node_modules/mediasoup/worker/out/Release/mediasoup-worker` (where `scripts/setup.sh` installs it). Read once, when mediasoup loads; `GET /admin/workers` reports the binary in use.',
  },
];

/** Seed-compatible names accepted as aliases of the canonical variable. */
export const aliases: Record<string, keyof RawConfig> = {
  TWILIO_SSID: 'TWILIO_ACCOUNT_SID',
  TWILIO_TOKEN: 'TWILIO_AUTH_TOKEN',
};

export function defaultWorkerCount(): number {
  return Math.max(1, os.availableParallelism());
}
