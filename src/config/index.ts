import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { aliases, configSchema, defaultWorkerCount, type RawConfig } from './schema.js';

export { configSchema } from './schema.js';

/** Thrown for any invalid configuration; `issues` name the variable and the expected form. */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(
      'Invalid configuration:\n' +
        issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n') +
        '\nSee .env.example or the README configuration table.',
    );
    this.name = 'ConfigError';
  }
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
  chat: { history: number; maxLength: number; ratePerSecond: number; burst: number };
  participantListMax: number;
  wsMaxBufferBytes: number;
  wsRequestsPerSecond: number;
  defaultRoom: string;
}

type Env = Record<string, string | undefined>;

function readFileLayer(file: string): Env {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(path.resolve(file), 'utf8'));
  } catch (err) {
    throw new ConfigError([{ variable: 'FOURCAST_CONFIG_FILE', message: `cannot read ${file} as JSON (${(err as Error).message})` }]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([{ variable: 'FOURCAST_CONFIG_FILE', message: `${file} must hold a JSON object of VARIABLE: value` }]);
  }
  const out: Env = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!(k in configSchema.shape) && !(k in aliases)) {
      throw new ConfigError([{ variable: k, message: `unknown variable in ${file}` }]);
    }
    out[k] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}

/** Applies aliases; refuses an alias and its canonical name set to different values. */
function resolveAliases(env: Env): Env {
  const out: Env = { ...env };
  for (const [alias, canonical] of Object.entries(aliases)) {
    const a = env[alias];
    if (a === undefined || a === '') continue;
    const c = env[canonical];
    if (c !== undefined && c !== '' && c !== a) {
      throw new ConfigError([{ variable: alias, message: `conflicts with ${canonical}; set only one of them` }]);
    }
    out[canonical] = a;
  }
  return out;
}

/**
 * Loads the configuration once: optional JSON file, then the environment on top.
 * Empty strings count as unset, like most dotenv tooling.
 */
export function loadConfig(env: Env = process.env, randomSecret: () => string = defaultSecret): Config {
  const fromEnv: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') fromEnv[k] = v;
  const file = fromEnv.FOURCAST_CONFIG_FILE;
  const merged = resolveAliases({ ...(file ? resolveAliases(readFileLayer(file)) : {}), ...fromEnv });

  const picked: Env = {};
  for (const key of Object.keys(configSchema.shape)) if (merged[key] !== undefined) picked[key] = merged[key];
  const result = configSchema.safeParse(picked);
  if (!result.success) throw new ConfigError(result.error.issues.map(issueToEntry));
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
  if (c.HTTP_PORT !== 0 && c.HTTP_PORT === c.WS_PORT) problems.push({ variable: 'WS_PORT', message: 'must differ from HTTP_PORT' });
  if (Boolean(c.TLS_CERT_FILE) !== Boolean(c.TLS_KEY_FILE)) {
    problems.push({ variable: c.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', message: 'built-in TLS needs both TLS_CERT_FILE and TLS_KEY_FILE' });
  }
  for (const variable of ['TLS_CERT_FILE', 'TLS_KEY_FILE'] as const) {
    const file = c[variable];
    if (!file) continue;
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch {
      problems.push({ variable, message: `cannot read ${file}` });
    }
  }
  // An https page may not open a ws:// socket (mixed content): browsers block it.
  if (c.PUBLIC_WS_URL?.startsWith('ws:') && (c.PUBLIC_URL?.startsWith('https:') || c.TLS_CERT_FILE)) {
    problems.push({ variable: 'PUBLIC_WS_URL', message: 'must be wss:// when pages are served over https (browsers block ws:// from an https page)' });
  }
  const workers = c.MEDIASOUP_WORKERS === 'auto' ? defaultWorkerCount() : c.MEDIASOUP_WORKERS;
  if (c.RTC_PORT_BASE + workers - 1 > 65535) {
    problems.push({ variable: 'RTC_PORT_BASE', message: `RTC_PORT_BASE + MEDIASOUP_WORKERS - 1 must be <= 65535 (${workers} workers)` });
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
    chat: { history: c.CHAT_HISTORY, maxLength: c.CHAT_MAX_LENGTH, ratePerSecond: c.CHAT_RATE_PER_SECOND, burst: c.CHAT_BURST },
    participantListMax: c.PARTICIPANT_LIST_MAX,
    wsMaxBufferBytes: c.WS_MAX_BUFFER_BYTES,
    wsRequestsPerSecond: c.WS_REQUESTS_PER_SECOND,
    defaultRoom: c.DEFAULT_ROOM,
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
