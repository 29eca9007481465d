import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsRoutes, type MetricsRoutesOptions } from '../../src/http/metrics.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { errorCodes } from '../../src/protocol/messages.js';

/** The value of one exposition sample, e.g. `fourcast_peers{role="viewer"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Metric families from the `# TYPE` lines. */
function families(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** Every sample line's name and label names. */
function samples(text: string): { name: string; labels: string[] }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(l)!;
      return { name: m[1]!, labels: [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)].map((x) => x[1]!) };
    });
}

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool not runnable (${r.error.message}); install it with: apt-get install -y prometheus`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const repo = path.resolve(import.meta.dirname, '../..');

describe('Metrics (pushed values)', () => {
  it('keeps its metrics off the global prom-client registry; two instances coexist', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.workerDeath();
    expect(sample(await a.text(), 'fourcast_worker_deaths_total')).toBe(1);
    expect(sample(await b.text(), 'fourcast_worker_deaths_total')).toBe(0);
    expect(await globalRegistry.metrics()).not.toContain('fourcast_');
  });

  it('counts chat, WebSocket, TURN, worker and protocol events', async () => {
    const m = new Metrics();
    m.chatMessage('in');
    m.chatMessage('out', 40);
    m.chatMessage('out', 2);
    m.chatMessage('out', -3); // ignored: a counter never goes down
    m.chatDropped('rate-limited');
    m.chatDropped('rate-limited');
    m.chatDropped('too-long');
    m.wsConnection(1);
    m.wsConnection(1);
    m.wsConnection(1);
    m.wsConnection(-1);
    m.wsBackpressureDrop();
    m.turnOutcome('twilio', 'timeout');
    m.turnOutcome('coturn', 'ok');
    m.turnOutcome('coturn', 'ok');
    m.workerDeath();
    m.protocolError('stage-full');
    const t = await m.text();
    expect(sample(t, 'fourcast_chat_messages_total{direction="in"}')).toBe(1);
    expect(sample(t, 'fourcast_chat_messages_total{direction="out"}')).toBe(42);
    expect(sample(t, 'fourcast_chat_messages_dropped_total{reason="rate-limited"}')).toBe(2);
    expect(sample(t, 'fourcast_chat_messages_dropped_total{reason="too-long"}')).toBe(1);
    expect(sample(t, 'fourcast_ws_connections')).toBe(2);
    expect(sample(t, 'fourcast_ws_backpressure_drops_total')).toBe(1);
    expect(sample(t, 'fourcast_turn_requests_total{provider="twilio",outcome="timeout"}')).toBe(1);
    expect(sample(t, 'fourcast_turn_requests_total{provider="coturn",outcome="ok"}')).toBe(2);
    expect(sample(t, 'fourcast_turn_requests_total{provider="stun",outcome="ok"}')).toBe(0);
    expect(sample(t, 'fourcast_worker_deaths_total')).toBe(1);
    expect(sample(t, 'fourcast_protocol_errors_total{code="stage-full"}')).toBe(1);
    expect(sample(t, 'fourcast_protocol_errors_total{code="forbidden"}')).toBe(0);
  });

  it('files first-frame times into second buckets and ignores nonsense', async () => {
    const m = new Metrics();
    m.firstFrame(0.3);
    m.firstFrame(2.5);
    m.firstFrame(45); // beyond the last bucket: only +Inf
    m.firstFrame(-1);
    m.firstFrame(Number.NaN);
    const t = await m.text();
    const bucket = (le: string) => sample(t, `fourcast_join_to_first_frame_seconds_bucket{le="${le}"}`);
    expect(bucket('0.25')).toBe(0);
    expect(bucket('0.5')).toBe(1);
    expect(bucket('3')).toBe(2);
    expect(bucket('30')).toBe(2);
    expect(bucket('+Inf')).toBe(3);
    expect(sample(t, 'fourcast_join_to_first_frame_seconds_count')).toBe(3);
    expect(sample(t, 'fourcast_join_to_first_frame_seconds_sum')).toBeCloseTo(47.8);
  });
});

describe('Metrics (names, types, labels)', () => {
  const expected: Record<string, string> = {
    fourcast_chat_messages_total: 'counter',
    fourcast_chat_messages_dropped_total: 'counter',
    fourcast_ws_connections: 'gauge',
    fourcast_ws_backpressure_drops_total: 'counter',
    fourcast_ws_max_buffered_bytes: 'gauge',
    fourcast_join_to_first_frame_seconds: 'histogram',
    fourcast_turn_requests_total: 'counter',
    fourcast_worker_deaths_total: 'counter',
    fourcast_protocol_errors_total: 'counter',
    fourcast_limit_refusals_total: 'counter',
    fourcast_rooms: 'gauge',
    fourcast_peers: 'gauge',
    fourcast_publishers: 'gauge',
    fourcast_relayed_publishers: 'gauge',
    fourcast_producers: 'gauge',
    fourcast_consumers: 'gauge',
    fourcast_routers: 'gauge',
    fourcast_fanout_routers: 'gauge',
    fourcast_worker_cpu_ratio: 'gauge',
    fourcast_worker_up: 'gauge',
    fourcast_worker_viewers: 'gauge',
    fourcast_worker_packet_budget_ratio: 'gauge',
    fourcast_worker_busy: 'gauge',
    fourcast_worker_cpu_seconds_total: 'counter',
    fourcast_worker_max_resident_memory_bytes: 'gauge',
    fourcast_stage_guests: 'gauge',
    fourcast_stage_hands_raised: 'gauge',
    fourcast_stage_invitations_open: 'gauge',
    fourcast_stage_invitations_total: 'counter',
    fourcast_calls: 'gauge',
    fourcast_calls_total: 'counter',
    fourcast_recordings: 'gauge',
    fourcast_recording_segments: 'gauge',
    fourcast_recording_failures_total: 'counter',
    fourcast_whip_sessions: 'gauge',
    fourcast_whip_requests_total: 'counter',
    fourcast_whip_sessions_ended_total: 'counter',
  };

  it('exposes exactly the documented Fourcast families with their types, plus standard default metrics', async () => {
    const fam = families(await new Metrics().text());
    const ours = Object.fromEntries([...fam].filter(([n]) => n.startsWith('fourcast_')));
    expect(ours).toEqual(expected);
    for (const [name, type] of Object.entries(ours)) {
      // Counters and only counters end in _total.
      expect(name.endsWith('_total'), name).toBe(type === 'counter');
    }
    expect(fam.get('process_cpu_seconds_total')).toBe('counter');
    expect(fam.get('process_resident_memory_bytes')).toBe('gauge');
    expect(fam.get('nodejs_heap_size_used_bytes')).toBe('gauge');
    expect(fam.get('nodejs_active_handles')).toBe('gauge');
    // Gauges named *_total are dropped: their labelled twins carry the same numbers.
    expect(fam.has('nodejs_active_handles_total')).toBe(false);
  });

  it('uses only bounded label names', async () => {
    const m = new Metrics();
    m.chatDropped('rate-limited');
    m.firstFrame(1);
    const allowed = new Set(['direction', 'reason', 'provider', 'outcome', 'code', 'role', 'kind', 'worker', 'mode', 'le', 'limit', 'protocol', 'method', 'status']);
    for (const s of samples(await m.text()).filter((x) => x.name.startsWith('fourcast_'))) {
      for (const l of s.labels) expect(allowed, `${s.name} label ${l}`).toContain(l);
    }
  });

  it('folds free-text drop reasons and unknown error codes into "other"', async () => {
    const m = new Metrics();
    for (let i = 0; i < 100; i++) m.chatDropped(`reason-${i}`);
    m.chatDropped('Peer 4f2a said: buy now!!!');
    m.protocolError('room/secret-room');
    m.protocolError('stage-full');
    const t = await m.text();
    const reasons = samples(t).filter((s) => s.name === 'fourcast_chat_messages_dropped_total');
    expect(reasons).toHaveLength(19); // the two known reasons, 16 distinct others, then "other"
    expect(sample(t, 'fourcast_chat_messages_dropped_total{reason="reason-0"}')).toBe(1);
    expect(sample(t, 'fourcast_chat_messages_dropped_total{reason="other"}')).toBe(100 - 16 + 1);
    expect(samples(t).filter((s) => s.name === 'fourcast_protocol_errors_total')).toHaveLength(errorCodes.length + 1);
    expect(sample(t, 'fourcast_protocol_errors_total{code="other"}')).toBe(1);
    expect(t).not.toContain('secret-room');
  });

  it('shows no live series before attach rather than made-up zeros per role or worker', async () => {
    const t = await new Metrics().text();
    expect(sample(t, 'fourcast_rooms')).toBe(0);
    expect(samples(t).filter((s) => s.name === 'fourcast_peers' || s.name === 'fourcast_worker_up')).toEqual([]);
  });

  it('passes promtool check metrics with every push exercised', async () => {
    const m = new Metrics();
    m.chatMessage('in');
    m.chatDropped('rate-limited');
    m.wsConnection(1);
    m.wsBackpressureDrop();
    m.firstFrame(1.2);
    m.turnOutcome('stun', 'ok');
    m.workerDeath();
    m.protocolError('internal');
    m.limitRefused('rooms-per-address');
    m.recordingFailure('disk-full');
    const r = promtool(['check', 'metrics'], await m.text());
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('config/grafana-dashboard.json and config/prometheus.yml', () => {
  type Panel = { type: string; title: string; datasource?: { uid: string }; targets?: { expr: string; datasource?: { uid: string } }[] };
  const dashboard = JSON.parse(fs.readFileSync(path.join(repo, 'config/grafana-dashboard.json'), 'utf8')) as {
    schemaVersion: number;
    panels: Panel[];
    templating: { list: { name: string; type: string; query: unknown }[] };
  };
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('is a dashboard on a ${DS_PROMETHEUS} datasource variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', query: 'prometheus' }));
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
  });

  it('queries only metrics the registry exposes, and charts every Fourcast family', async () => {
    const exposed = new Set<string>();
    for (const [name, type] of families(await new Metrics().text())) {
      exposed.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(name + suffix);
    }
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:fourcast|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(exposed, `dashboard uses ${name}`).toContain(name);
    const charted = new Set([...used].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    for (const name of [...exposed].filter((n) => n.startsWith('fourcast_') && !/_(bucket|sum|count)$/.test(n))) {
      expect(charted, `no panel charts ${name}`).toContain(name);
    }
  });

  it('has PromQL that Prometheus parses (as recording rules through promtool)', () => {
    const rules = exprs.map(
      (e, i) => `      - record: fourcast:dashboard_query_${i}\n        expr: '${e.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*').replaceAll("'", "''")}'`,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-rules-'));
    try {
      const file = path.join(dir, 'rules.yml');
      fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const r = promtool(['check', 'rules', file]);
      expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ships a scrape config promtool accepts', () => {
    const r = promtool(['check', 'config', path.join(repo, 'config/prometheus.yml')]);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});

describe('GET /metrics (plugin)', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  async function build(opts: Omit<MetricsRoutesOptions, 'metrics'> = {}) {
    const metrics = new Metrics();
    metrics.workerDeath();
    app = Fastify();
    await app.register(metricsRoutes, { metrics, ...opts });
    return app;
  }

  it('serves the exposition text, uncached, without a token when none is configured', async () => {
    const res = await (await build()).inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(sample(res.body, 'fourcast_worker_deaths_total')).toBe(1);
  });

  it('requires the bearer token when one is configured', async () => {
    const a = await build({ token: 'scrape-token-0123456789' });
    const refused = [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: 'Bearer scrape-token-012345678' }, // one character short
      { authorization: 'Bearer scrape-token-0123456789x' },
      { authorization: 'Basic c2NyYXBlLXRva2VuLTAxMjM0NTY3ODk=' },
      { authorization: 'scrape-token-0123456789' },
    ];
    for (const headers of refused) {
      const res = await a.inject({ url: '/metrics', headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      expect(res.json()).toMatchObject({ error: 'unauthorized' });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.body).not.toContain('fourcast_');
    }
    const ok = await a.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-token-0123456789' } });
    expect(ok.statusCode).toBe(200);
    expect(sample(ok.body, 'fourcast_worker_deaths_total')).toBe(1);
    expect((await a.inject({ url: '/metrics', headers: { authorization: 'bearer scrape-token-0123456789' } })).statusCode).toBe(200);
  });

  it('refuses an empty token at registration instead of locking or opening the route', async () => {
    await expect(build({ token: '' })).rejects.toThrow(/must not be empty/);
  });
});
