/**
 * Fourcast HTTP plane load test (k6): probes (`/health`, `/ready`), page loads
 * (`/api/client-config`), Prometheus scrapes (`/metrics`) and TURN credential requests
 * (`/api/turn`), each at its own constant arrival rate.
 *
 *   k6 run loadtest/http.js                                         # default profile
 *   PROFILE=smoke BASE_HTTP=http://127.0.0.1:3000 k6 run loadtest/http.js
 *
 * `/api/turn` is rate-limited per client IP by the server (30 requests a minute, fixed
 * window), and every request of this script comes from one IP: TURN_PER_MIN defaults to
 * 20 so the limit is never reached. Raise it above 30 only to watch the limiter work:
 * 429 answers then count in `turn_rate_limited` (not in http_req_failed), and that
 * metric's threshold is dropped.
 */
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { env, envNumber, durationMs, k6Duration, summaryOutputs } from './lib.js';

const PROFILES = {
  // ≈12 s: a few requests a second on each route.
  smoke: { DURATION: '12s', PROBE_RATE: 20, CONFIG_RATE: 10, METRICS_RATE: 1, TURN_PER_MIN: 20 },
  // ≈2 min: a busy node (balancer probes, page loads, a scraper every half second).
  default: { DURATION: '2m', PROBE_RATE: 50, CONFIG_RATE: 30, METRICS_RATE: 2, TURN_PER_MIN: 20 },
};
const profileName = env('PROFILE', undefined, 'default');
const profile = PROFILES[profileName];
if (!profile) throw new Error(`PROFILE must be one of ${Object.keys(PROFILES).join(', ')}, got "${profileName}"`);

const BASE_HTTP = env('BASE_HTTP', undefined, 'http://127.0.0.1:3000').replace(/\/+$/, '');
const DURATION_MS = durationMs('DURATION', profile.DURATION);
const PROBE_RATE = envNumber('PROBE_RATE', profile.PROBE_RATE); // /health + /ready pairs per second
const CONFIG_RATE = envNumber('CONFIG_RATE', profile.CONFIG_RATE); // /api/client-config per second
const METRICS_RATE = envNumber('METRICS_RATE', profile.METRICS_RATE); // /metrics per second
const TURN_PER_MIN = envNumber('TURN_PER_MIN', profile.TURN_PER_MIN); // /api/turn per minute
/** The server's /api/turn budget per IP and minute (fixed in src/http/turn.ts). */
const TURN_LIMIT_PER_MIN = envNumber('TURN_LIMIT_PER_MIN', undefined, 30);
const METRICS_TOKEN = env('METRICS_TOKEN', undefined, '');
const P95_MS = envNumber('HTTP_P95_MS', undefined, 200); // health, ready, client-config
const METRICS_P95_MS = envNumber('METRICS_P95_MS', undefined, 500);
const TURN_P95_MS = envNumber('TURN_P95_MS', undefined, 1000);

if (!/^https?:\/\//.test(BASE_HTTP)) throw new Error(`BASE_HTTP must be an http:// or https:// URL, got "${BASE_HTTP}"`);
if (TURN_PER_MIN > TURN_LIMIT_PER_MIN) {
  console.warn(`TURN_PER_MIN=${TURN_PER_MIN} exceeds the server's ${TURN_LIMIT_PER_MIN}/min per IP: expect 429s (counted in turn_rate_limited)`);
}

const params = { profile: profileName, BASE_HTTP, DURATION_MS, PROBE_RATE, CONFIG_RATE, METRICS_RATE, TURN_PER_MIN, P95_MS, METRICS_P95_MS, TURN_P95_MS };

const turnRateLimited = new Counter('turn_rate_limited');

/** A constant-arrival-rate scenario running `exec`; a rate of 0 leaves it out. */
function arrival(execName, rate, timeUnit, maxVUs) {
  if (!(rate > 0)) return undefined;
  return {
    executor: 'constant-arrival-rate',
    exec: execName,
    rate,
    timeUnit,
    duration: k6Duration(DURATION_MS),
    // Requests take milliseconds; a few VUs per 10/s keep up (k6 adds more up to maxVUs).
    preAllocatedVUs: Math.min(maxVUs, Math.max(2, Math.ceil(rate / 5))),
    maxVUs,
    gracefulStop: '5s',
  };
}

const scenarios = Object.fromEntries(
  Object.entries({
    probes: arrival('probes', PROBE_RATE, '1s', 20),
    client_config: arrival('clientConfig', CONFIG_RATE, '1s', 20),
    metrics: arrival('metrics', METRICS_RATE, '1s', 5),
    turn: arrival('turn', TURN_PER_MIN, '1m', 2),
  }).filter(([, s]) => s),
);

const thresholds = {
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
};
if (scenarios.probes) {
  thresholds['http_req_duration{endpoint:health}'] = [`p(95)<${P95_MS}`];
  thresholds['http_req_duration{endpoint:ready}'] = [`p(95)<${P95_MS}`];
}
if (scenarios.client_config) thresholds['http_req_duration{endpoint:client-config}'] = [`p(95)<${P95_MS}`];
if (scenarios.metrics) thresholds['http_req_duration{endpoint:metrics}'] = [`p(95)<${METRICS_P95_MS}`];
if (scenarios.turn) {
  thresholds['http_req_duration{endpoint:turn}'] = [`p(95)<${TURN_P95_MS}`];
  if (TURN_PER_MIN <= TURN_LIMIT_PER_MIN) thresholds.turn_rate_limited = ['count<1'];
}

export const options = {
  scenarios,
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  // Keep-alive as a balancer or scraper would; k6 reuses connections per VU.
  noConnectionReuse: false,
};

const json = (r) => {
  try {
    return r.json();
  } catch {
    return undefined;
  }
};

export function probes() {
  const res = http.batch([
    ['GET', `${BASE_HTTP}/health`, null, { tags: { endpoint: 'health' } }],
    ['GET', `${BASE_HTTP}/ready`, null, { tags: { endpoint: 'ready' } }],
  ]);
  check(res[0], { 'health 200 ok': (r) => r.status === 200 && json(r)?.status === 'ok' });
  check(res[1], { 'ready 200 ready': (r) => r.status === 200 && json(r)?.status === 'ready' });
}

export function clientConfig() {
  const r = http.get(`${BASE_HTTP}/api/client-config`, { tags: { endpoint: 'client-config' } });
  check(r, {
    'client-config 200 with wsUrl': (x) => {
      const body = x.status === 200 ? json(x) : undefined;
      return Boolean(body && typeof body.wsUrl === 'string' && /^wss?:\/\//.test(body.wsUrl) && typeof body.protocol === 'number');
    },
  });
}

export function metrics() {
  const headers = METRICS_TOKEN ? { Authorization: `Bearer ${METRICS_TOKEN}` } : {};
  const r = http.get(`${BASE_HTTP}/metrics`, { headers, tags: { endpoint: 'metrics' } });
  check(r, { 'metrics 200 exposition': (x) => x.status === 200 && typeof x.body === 'string' && x.body.includes('# TYPE ') });
}

export function turn() {
  const r = http.get(`${BASE_HTTP}/api/turn`, {
    tags: { endpoint: 'turn' },
    // A 429 is the limiter doing its job: counted apart, not as a failed request.
    responseCallback: http.expectedStatuses(200, 429),
  });
  if (r.status === 429) {
    turnRateLimited.add(1);
    return;
  }
  check(r, {
    'turn 200 with iceServers': (x) => {
      const body = x.status === 200 ? json(x) : undefined;
      return Boolean(body && Array.isArray(body.iceServers) && body.iceServers.length > 0 && typeof body.ttl === 'number');
    },
  });
}

export function handleSummary(data) {
  return summaryOutputs(data, { defaultPath: 'loadtest/results/http-summary.json', title: `Fourcast http (${profileName}) against ${BASE_HTTP}`, params });
}
