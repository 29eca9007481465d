import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { aliases, configSchema, defaultWorkerCount, secretVariables, type RawConfig } from './schema.js';

export { configSchema } from './schema.js';

/** Thrown for any invalid configuration; `issues` name the variable, the expected form, the value and its source. */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(
      'Invalid configuration:\n' +
        issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n') +
        '\nEvery variable, with its default: node dist/server/main.js --help, .env.example or docs/configuration.md.',
    );
    this.name = 'ConfigError';
  }
}

/**
 * How a value is shown in an error: quoted, with credentials in URLs masked, long
 * values cut. Secrets are never shown, only their length.
 */
export function displayValue(variable: string, raw: string): string {
  if (secretVariables.has(variable)) return `a hidden value of ${[...raw].length} characters`;
  let v = maskCredentials(raw);
  if (v.length > 120) v = `${v.slice(0, 117)}…`;
  return JSON.stringify(v);
}

/**
 * Masks what may be a credential: everything between a URL's scheme and its last `@`
 * (`redis://user:pw@host` → `redis://***@host`, malformed URLs included), and the value
 * of query parameters such as `password=`, `token=`, `key=`.
 */
export function maskCredentials(v: string): string {
  const cut = v.search(/[?#]/);
  const [head, tail] = cut < 0 ? [v, ''] : [v.slice(0, cut), v.slice(cut)];
  const at = head.lastIndexOf('@');
  const masked = at < 0 ? head : `${/^[a-z][a-z0-9+.-]*:?\/*/i.exec(head)?.[0] ?? ''}***${head.slice(at)}`;
  return masked + tail.replace(/([?&;#][^=&#;]*(?:pass|pwd|secret|token|key|auth|credential)[^=&#;]*=)[^&#;]*/gi, '$1***');
}

export interface Config {
  env: RawConfig['NODE_ENV'];
  log: { level: RawConfig['LOG_LEVEL']; format: 'json' | 'pretty' };
  /** publicUrl: undefined means "derive from the bound port" (see server.ts). */
  http: { host: string; port: number; publicUrl: string | undefined; trustProxy: boolean | number | string[]; turnRatePerMinute: number };
  ws: { host: string; port: number; publicUrl: string | undefined };
  /** Built-in TLS for HTTP and WebSocket; undefined = plain (or a proxy terminates TLS). */
  tls: { certFile: string; keyFile: string } | undefined;
  media: {
    workers: number;
    logLevel: RawConfig['MEDIASOUP_LOG_LEVEL'];
    listenIp: string;
    announcedAddress: string | undefined;
    portBase: number;
    maxViewersPerRouter: number;
    keyFrameRequestDelayMs: number;
    /** Share of one core past which a worker takes no new rooms or viewers. */
    cpuHeadroom: number;
    /** Missed health samples in a row before a worker is killed and replaced (WORKER_UNRESPONSIVE_SAMPLES). */
    unresponsiveSamples: number;
    /** Packets/s a worker may be asked to send, and what each placed receiver reserves of it. */
    maxPacketRate: number;
    viewerPacketRate: number;
    /** Media objects one participant may hold at once. */
    peerLimits: { transports: number; producers: number; consumers: number };
  };
  rooms: { emptyGraceMs: number };
  drainGraceMs: number;
  auth: { tokenSecret: string; tokenSecretGenerated: boolean; adminToken: string | undefined; metricsToken: string | undefined; allowAnonymousViewers: boolean };
  turn: {
    twilio: { accountSid: string; authToken: string } | undefined;
    coturn: { secret: string; urls: string[] } | undefined;
    stunUrls: string[];
    ttlSeconds: number;
  };
  redisUrl: string | undefined;
  chat: { history: number; maxLength: number; ratePerSecond: number; burst: number; addressRatePerSecond: number; addressBurst: number };
  /** Per client address and node-wide limits. */
  limits: { wsConnectionsPerAddress: number; roomsTotal: number; roomsPerAddress: number };
  bans: { durationMs: number };
  /** Print a broadcaster link (with its token) at start. */
  printLinks: boolean;
  participantListMax: number;
  /** Joining the stage with consent (rooms/invitations.ts). */
  invitations: { ttlMs: number; publishTimeoutMs: number };
  /** Private calls (calls/). */
  calls: { policy: 'everyone' | 'hosts' | 'off'; ringMs: number };
  /** WHIP ingest and WHEP playback (whip/). */
  whip: { ratePerMinute: number; maxPerAddress: number; connectTimeoutMs: number; disconnectTimeoutMs: number };
  wsMaxBufferBytes: number;
  wsRequestsPerSecond: number;
  defaultRoom: string;
  /** Recording rooms (recording/): where files go (absolute) and the ffmpeg to run. */
  recording: { dir: string; ffmpeg: string };
}

type Env = Record<string, string | undefined>;

/** A layer of values and, per variable, where it came from ("the environment", "the env file /x/.env", …). */
interface Layer {
  values: Env;
  origin: Record<string, string>;
}

function readFileLayer(file: string, fileOrigin: string): Layer {
  const where = fileOrigin === 'the environment' ? '' : ` (FOURCAST_CONFIG_FILE from ${fileOrigin})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(path.resolve(file), 'utf8'));
  } catch (err) {
    throw new ConfigError([{ variable: 'FOURCAST_CONFIG_FILE', message: `cannot read ${file} as JSON (${(err as Error).message})${where}` }]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([{ variable: 'FOURCAST_CONFIG_FILE', message: `${file} must hold a JSON object of VARIABLE: value${where}` }]);
  }
  const values: Env = {};
  const origin: Record<string, string> = {};
  const problems: { variable: string; message: string }[] = [];
  for (const [k, v] of Object.entries(parsed)) {
    if (!(k in configSchema.shape) && !(k in aliases)) {
      problems.push({ variable: k, message: `unknown variable in ${file}` });
      continue;
    }
    if (k === 'FOURCAST_CONFIG_FILE' || k === 'FOURCAST_ENV_FILE') {
      problems.push({ variable: k, message: `cannot be set inside the config file ${file} (set it in the environment)` });
      continue;
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      problems.push({ variable: k, message: `expected a string, number, boolean or list in ${file}` });
      continue;
    }
    values[k] = Array.isArray(v) ? v.join(',') : String(v);
    origin[k] = `the config file ${file}`;
  }
  if (problems.length) throw new ConfigError(problems);
  return { values, origin };
}

/** Applies aliases; refuses an alias and its canonical name set to different values. */
function resolveAliases(layer: Layer): Layer {
  const values: Env = { ...layer.values };
  const origin = { ...layer.origin };
  for (const [alias, canonical] of Object.entries(aliases)) {
    const a = layer.values[alias];
    if (a === undefined || a === '') continue;
    const c = layer.values[canonical];
    if (c !== undefined && c !== '' && c !== a) {
      throw new ConfigError([{ variable: alias, message: `conflicts with ${canonical}; set only one of them` }]);
    }
    values[canonical] = a;
    origin[canonical] = `${alias} in ${layer.origin[alias] ?? 'the environment'}`;
  }
  return { values, origin };
}

export interface LoadConfigOptions {
  /**
   * Where variables of `env` came from when not from the process environment itself:
   * `{ HTTP_PORT: 'the env file /srv/fourcast/.env' }`. Errors name it.
   */
  sources?: Readonly<Record<string, string>>;
}

/**
 * Loads the configuration once: optional JSON file, then the environment on top.
 * Empty strings count as unset, like most dotenv tooling. Errors name each bad
 * variable with the expected form, the value (secrets hidden) and where it came from.
 */
export function loadConfig(env: Env = process.env, randomSecret: () => string = defaultSecret, opts: LoadConfigOptions = {}): Config {
  const fromEnv: Layer = { values: {}, origin: {} };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v === '') continue;
    fromEnv.values[k] = v;
    fromEnv.origin[k] = opts.sources?.[k] ?? 'the environment';
  }
  const file = fromEnv.values.FOURCAST_CONFIG_FILE;
  const fileLayer = file ? resolveAliases(readFileLayer(file, fromEnv.origin.FOURCAST_CONFIG_FILE ?? 'the environment')) : { values: {}, origin: {} };
  const envLayer = resolveAliases(fromEnv);
  const merged: Env = { ...fileLayer.values, ...envLayer.values };
  const origin: Record<string, string> = { ...fileLayer.origin, ...envLayer.origin };
  /** " (got "70000" from the environment)": what an error adds after the expected form. */
  const got = (variable: string): string => {
    const raw = merged[variable];
    return raw === undefined ? '' : ` (got ${displayValue(variable, raw)} from ${origin[variable] ?? 'the environment'})`;
  };

  const picked: Env = {};
  for (const key of Object.keys(configSchema.shape)) if (merged[key] !== undefined) picked[key] = merged[key];
  const result = configSchema.safeParse(picked);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map(issueToEntry).map((i) => ({ variable: i.variable, message: i.message + got(i.variable) })));
  }
  const c = result.data;

  const problems: { variable: string; message: string }[] = [];
  const twilioSet = [c.TWILIO_ACCOUNT_SID, c.TWILIO_AUTH_TOKEN].filter(Boolean).length;
  if (twilioSet === 1) {
    problems.push({
      variable: c.TWILIO_ACCOUNT_SID ? 'TWILIO_AUTH_TOKEN' : 'TWILIO_ACCOUNT_SID',
      message: 'Twilio needs both TWILIO_ACCOUNT_SID (or TWILIO_SSID) and TWILIO_AUTH_TOKEN (or TWILIO_TOKEN)',
    });
  }
  if (c.TURN_SECRET && !c.TURN_URLS?.length) {
    problems.push({ variable: 'TURN_URLS', message: 'required when TURN_SECRET is set (e.g. turn:turn.example.com:3478?transport=udp)' });
  }
  if (c.HTTP_PORT !== 0 && c.HTTP_PORT === c.WS_PORT) problems.push({ variable: 'WS_PORT', message: `must differ from HTTP_PORT${got('WS_PORT')}` });
  if (Boolean(c.TLS_CERT_FILE) !== Boolean(c.TLS_KEY_FILE)) {
    problems.push({ variable: c.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', message: 'built-in TLS needs both TLS_CERT_FILE and TLS_KEY_FILE' });
  }
  if (c.VIEWER_PACKET_RATE > c.WORKER_MAX_PACKET_RATE) {
    problems.push({ variable: 'VIEWER_PACKET_RATE', message: `expected at most WORKER_MAX_PACKET_RATE (${c.WORKER_MAX_PACKET_RATE}): a worker must fit at least one viewer` });
  }
  for (const variable of ['TLS_CERT_FILE', 'TLS_KEY_FILE'] as const) {
    const file = c[variable];
    if (!file) continue;
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch {
      problems.push({ variable, message: `cannot read ${file} (set in ${origin[variable] ?? 'the environment'})` });
    }
  }
  // An https page may not open a ws:// socket (mixed content): browsers block it.
  if (c.PUBLIC_WS_URL?.startsWith('ws:') && (c.PUBLIC_URL?.startsWith('https:') || c.TLS_CERT_FILE)) {
    problems.push({ variable: 'PUBLIC_WS_URL', message: `must be wss:// when pages are served over https (browsers block ws:// from an https page)${got('PUBLIC_WS_URL')}` });
  }
  const workers = c.MEDIASOUP_WORKERS === 'auto' ? defaultWorkerCount() : c.MEDIASOUP_WORKERS;
  if (c.RTC_PORT_BASE + workers - 1 > 65535) {
    problems.push({ variable: 'RTC_PORT_BASE', message: `RTC_PORT_BASE + MEDIASOUP_WORKERS - 1 must be <= 65535 (${workers} workers)${got('RTC_PORT_BASE')}` });
  }
  const recordingDir = path.resolve(c.RECORDING_DIR);
  const dirStat = fs.statSync(recordingDir, { throwIfNoEntry: false });
  if (dirStat && !dirStat.isDirectory()) {
    problems.push({ variable: 'RECORDING_DIR', message: `expected a folder (or a path where one can be created), but ${recordingDir} is a file${got('RECORDING_DIR')}` });
  }
  if (problems.length) throw new ConfigError(problems);

  const isTty = Boolean(process.stdout.isTTY);

  return {
    env: c.NODE_ENV,
    log: {
      level: c.LOG_LEVEL,
      format: c.LOG_FORMAT === 'auto' ? (c.NODE_ENV !== 'production' && isTty ? 'pretty' : 'json') : c.LOG_FORMAT,
    },
    http: { host: c.HTTP_HOST, port: c.HTTP_PORT, publicUrl: c.PUBLIC_URL?.replace(/\/$/, ''), trustProxy: parseTrustProxy(c.TRUST_PROXY), turnRatePerMinute: c.TURN_RATE_PER_MINUTE },
    ws: { host: c.WS_HOST, port: c.WS_PORT, publicUrl: c.PUBLIC_WS_URL },
    tls: c.TLS_CERT_FILE && c.TLS_KEY_FILE ? { certFile: c.TLS_CERT_FILE, keyFile: c.TLS_KEY_FILE } : undefined,
    media: {
      workers,
      logLevel: c.MEDIASOUP_LOG_LEVEL,
      listenIp: c.RTC_LISTEN_IP,
      announcedAddress: c.RTC_ANNOUNCED_ADDRESS,
      portBase: c.RTC_PORT_BASE,
      maxViewersPerRouter: c.ROUTER_MAX_VIEWERS,
      keyFrameRequestDelayMs: c.KEYFRAME_REQUEST_DELAY_MS,
      cpuHeadroom: c.WORKER_CPU_HEADROOM,
      unresponsiveSamples: c.WORKER_UNRESPONSIVE_SAMPLES,
      maxPacketRate: c.WORKER_MAX_PACKET_RATE,
      viewerPacketRate: c.VIEWER_PACKET_RATE,
      peerLimits: { transports: c.MAX_TRANSPORTS_PER_PEER, producers: c.MAX_PRODUCERS_PER_PEER, consumers: c.MAX_CONSUMERS_PER_PEER },
    },
    rooms: { emptyGraceMs: c.ROOM_GRACE_SECONDS * 1000 },
    drainGraceMs: c.DRAIN_GRACE_SECONDS * 1000,
    auth: {
      tokenSecret: c.TOKEN_SECRET ?? randomSecret(),
      tokenSecretGenerated: !c.TOKEN_SECRET,
      adminToken: c.ADMIN_TOKEN,
      metricsToken: c.METRICS_TOKEN,
      allowAnonymousViewers: c.ALLOW_ANONYMOUS_VIEWERS,
    },
    turn: {
      twilio: c.TWILIO_ACCOUNT_SID && c.TWILIO_AUTH_TOKEN ? { accountSid: c.TWILIO_ACCOUNT_SID, authToken: c.TWILIO_AUTH_TOKEN } : undefined,
      coturn: c.TURN_SECRET && c.TURN_URLS ? { secret: c.TURN_SECRET, urls: c.TURN_URLS } : undefined,
      stunUrls: c.STUN_URLS,
      ttlSeconds: c.TURN_TTL_SECONDS,
    },
    redisUrl: c.REDIS_URL,
    chat: {
      history: c.CHAT_HISTORY,
      maxLength: c.CHAT_MAX_LENGTH,
      ratePerSecond: c.CHAT_RATE_PER_SECOND,
      burst: c.CHAT_BURST,
      addressRatePerSecond: c.CHAT_ADDRESS_RATE_PER_SECOND,
      addressBurst: c.CHAT_ADDRESS_BURST,
    },
    limits: { wsConnectionsPerAddress: c.WS_MAX_CONNECTIONS_PER_ADDRESS, roomsTotal: c.ROOMS_MAX, roomsPerAddress: c.ROOMS_PER_ADDRESS },
    bans: { durationMs: c.BAN_SECONDS * 1000 },
    printLinks: c.PRINT_LINKS === 'auto' ? c.NODE_ENV !== 'production' : c.PRINT_LINKS === 'true',
    participantListMax: c.PARTICIPANT_LIST_MAX,
    invitations: { ttlMs: c.STAGE_INVITATION_SECONDS * 1000, publishTimeoutMs: c.STAGE_GUEST_PUBLISH_SECONDS * 1000 },
    calls: { policy: c.CALLS, ringMs: c.CALL_RING_SECONDS * 1000 },
    whip: {
      ratePerMinute: c.WHIP_RATE_PER_MINUTE,
      maxPerAddress: c.WHIP_SESSIONS_PER_ADDRESS,
      connectTimeoutMs: c.WHIP_CONNECT_SECONDS * 1000,
      disconnectTimeoutMs: c.WHIP_DISCONNECT_SECONDS * 1000,
    },
    wsMaxBufferBytes: c.WS_MAX_BUFFER_BYTES,
    wsRequestsPerSecond: c.WS_REQUESTS_PER_SECOND,
    defaultRoom: c.DEFAULT_ROOM,
    recording: { dir: recordingDir, ffmpeg: c.RECORDING_FFMPEG },
  };
}

function issueToEntry(issue: z.core.$ZodIssue): { variable: string; message: string } {
  const variable = String(issue.path[0] ?? '(config)');
  // zod's own enum messages list the accepted values; keep them.
  return { variable, message: issue.message };
}

function parseTrustProxy(v: string): boolean | number | string[] {
  if (v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function defaultSecret(): string {
  return crypto.getRandomValues(Buffer.alloc(32)).toString('base64url');
}
