/**
 * Issue 12's attacks, run against a node that is already running (`npm start`, or any node
 * of yours), over real WebSockets and HTTP. Prints a JSON report on stdout (progress on
 * stderr) and exits 0 only when every check ran and passed:
 *
 *   npm run check:abuse -- --url http://127.0.0.1:3000 \
 *     --publisher-link 'http://localhost:3000/broadcast.html?room=main-stage&token=…' \
 *     --admin-token "$ADMIN_TOKEN" [--log-file node.log]
 *
 * Exit codes: 0 every check passed; 1 a check failed; 2 bad usage or the node is not
 * reachable as described; 3 nothing failed but a check was skipped (no --log-file).
 * Run it against a node nobody else uses: it counts consumers over every worker, fills the
 * address's room quota for a moment and bans 127.0.0.1 (anonymous) from a room of its own.
 * Details and tolerances: loadtest/README.md ("Abuse check").
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Http, outcome, sleep, tally, vp8, type UpgradeRefused } from './client.js';

const USAGE = `usage: npm run check:abuse -- --url http://127.0.0.1:3000 --publisher-link '<broadcaster link printed by npm start>' --admin-token TOKEN
  [--log-file PATH]          the node's log output (stdout+stderr), searched for tokens; without it that check is skipped
  [--metrics-token TOKEN]    when the node sets METRICS_TOKEN
  [--ws-url ws://…/ws]       default: wsUrl from GET /api/client-config
  [--loops 300]              join → consume → terminate loops
  [--rss-tolerance-mb 15]    RSS may end this many MiB above its baseline
  [--rooms-per-address 10]   the node's ROOMS_PER_ADDRESS
  [--max-transports 4]       the per-participant transport cap
The admin token may also come from the ADMIN_TOKEN environment variable.`;

type Status = 'pass' | 'fail' | 'skipped';
interface CheckResult {
  status: Status;
  rule: string;
  observed: Record<string, unknown>;
  reason?: string;
}

function usage(message: string): never {
  console.error(`check:abuse: ${message}\n${USAGE}`);
  process.exit(2);
}

const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        url: { type: 'string' },
        'publisher-link': { type: 'string' },
        'admin-token': { type: 'string' },
        'metrics-token': { type: 'string' },
        'log-file': { type: 'string' },
        'ws-url': { type: 'string' },
        loops: { type: 'string', default: '300' },
        'rss-tolerance-mb': { type: 'string', default: '15' },
        'rooms-per-address': { type: 'string', default: '10' },
        'max-transports': { type: 'string', default: '4' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
})();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const positive = (name: keyof typeof args): number => {
  const n = Number(args[name]);
  if (!Number.isFinite(n) || n <= 0) usage(`--${name} must be a positive number`);
  return n;
};
const adminToken = args['admin-token'] ?? process.env.ADMIN_TOKEN;
if (!args.url) usage('--url is required (the node’s HTTP address)');
if (!args['publisher-link']) usage('--publisher-link is required (the broadcaster link the node printed at start)');
if (!adminToken) usage('--admin-token (or ADMIN_TOKEN) is required: the node must be started with ADMIN_TOKEN set');
const LOOPS = Math.round(positive('loops'));
const RSS_TOLERANCE_MB = positive('rss-tolerance-mb');
const ROOMS_PER_ADDRESS = Math.round(positive('rooms-per-address'));
const MAX_TRANSPORTS = Math.round(positive('max-transports'));
const PIPELINED_CONSUMES = 50;
const PIPELINED_TRANSPORTS = 60;
/** Loops run before the baseline is taken, so first-use allocations (JIT, pools) are not counted as growth. */
const WARMUP_LOOPS = 30;
/** Loops in flight at once. */
const PARALLEL = 10;
const MiB = 1024 * 1024;

const base = args.url.replace(/\/+$/, '');
const link = (() => {
  try {
    return new URL(args['publisher-link']);
  } catch {
    return usage('--publisher-link is not a URL');
  }
})();
const mainRoom = link.searchParams.get('room') ?? usage('the publisher link has no ?room=');
const publisherToken = link.searchParams.get('token') ?? usage('the publisher link has no &token=');
const http = new Http(base, adminToken, args['metrics-token']);
/** Every credential the check handles: none of them may show up in the node's log. */
const secrets = new Map<string, string>([
  ['publisher link token', publisherToken],
  ['admin token', adminToken],
]);
if (args['metrics-token']) secrets.set('metrics token', args['metrics-token']);

const say = (s: string) => console.error(`[check:abuse] ${s}`);
const rand = () => randomBytes(4).toString('hex');
let wsBase = '';
const wsUrl = (room: string, token?: string) => `${wsBase}?room=${encodeURIComponent(room)}${token ? `&token=${encodeURIComponent(token)}` : ''}`;

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 250): Promise<{ value: T; ms: number; reached: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return { value, ms: Date.now() - t0, reached: true };
    if (Date.now() - t0 >= timeoutMs) return { value, ms: Date.now() - t0, reached: false };
    await sleep(everyMs);
  }
}

async function rssBytes(): Promise<number> {
  const v = await http.metric('process_resident_memory_bytes');
  if (v === undefined) throw new Error('/metrics has no process_resident_memory_bytes (prom-client default metrics not registered?)');
  return v;
}

async function mintToken(role: 'publisher' | 'viewer', room: string, name: string): Promise<string> {
  const r = await http.admin<{ token: string }>('POST', '/admin/tokens', { role, room, name, ttlSeconds: 600 });
  if (r.status !== 201) throw new Error(`POST /admin/tokens answered ${r.status}: ${JSON.stringify(r.body)}`);
  secrets.set(`minted ${role} token "${name}"`, r.body.token);
  return r.body.token;
}

async function openRooms(): Promise<string[]> {
  const r = await http.admin<{ rooms: { id: string }[] }>('GET', '/admin/rooms');
  if (r.status !== 200) throw new Error(`GET /admin/rooms answered ${r.status}`);
  return r.body.rooms.map((x) => x.id);
}

/** A joined participant; `join` answers with the peer id and the router's capabilities. */
async function joined(room: string, token?: string) {
  const c = await Client.connect(wsUrl(room, token));
  const j = await c.request<{ peerId: string; routerRtpCapabilities: unknown }>('join', {});
  return { c, peerId: j.peerId, caps: j.routerRtpCapabilities };
}

// ---- preflight ----------------------------------------------------------------------------

async function preflight(): Promise<Record<string, unknown>> {
  const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) }).catch((e: Error) => usage(`cannot reach ${base}/health: ${e.message}`));
  if (health.status !== 200) usage(`${base}/health answered ${health.status}`);
  const w = await http.admin('GET', '/admin/workers');
  if (w.status === 404) usage('GET /admin/workers is 404: start the node with ADMIN_TOKEN set (the admin routes exist only then)');
  if (w.status === 401) usage('GET /admin/workers is 401: --admin-token is not the node’s ADMIN_TOKEN');
  await rssBytes().catch((e: Error) => usage(e.message));
  if (args['ws-url']) wsBase = args['ws-url'];
  else {
    const cc = (await (await fetch(`${base}/api/client-config`, { signal: AbortSignal.timeout(10_000) })).json()) as { wsUrl: string };
    wsBase = cc.wsUrl;
  }
  // What a person opening the link does (the page, then its access check): if the request
  // log wrote query strings or bodies, the token would now be in it.
  const page = await fetch(`${base}${link.pathname}${link.search}`, { signal: AbortSignal.timeout(10_000) });
  await page.arrayBuffer();
  const access = await fetch(`${base}/api/access`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: mainRoom, token: publisherToken }),
    signal: AbortSignal.timeout(10_000),
  });
  const accessBody = (await access.json()) as { role?: string; error?: string };
  if (access.status !== 200 || accessBody.role !== 'publisher') usage(`the publisher link is refused by this node (${access.status} ${accessBody.error ?? ''}); pass the link this node printed`);
  // A forged token (altered signature) is refused at the upgrade; it must not be logged either.
  const forged = `${publisherToken.slice(0, -6)}${publisherToken.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'}`;
  secrets.set('forged token', forged);
  const forgedOutcome = await outcome(Client.connect(wsUrl(mainRoom, forged)));
  const counts = await http.workerCounts();
  return { url: base, wsUrl: wsBase, room: mainRoom, workers: counts.workers, pageStatus: page.status, forgedUpgrade: forgedOutcome };
}

// ---- the stage: one publisher with a VP8 camera producer, before any viewer ----------------

let roomsOpenedHere = 0;

async function stage() {
  const before = await openRooms();
  const pub = await Client.connect(wsUrl(mainRoom, publisherToken));
  try {
    await pub.request('join', {});
  } catch (err) {
    pub.close();
    const code = (err as { code?: string }).code;
    if (code === 'in-use') throw new Error('the broadcaster link is in use (a browser tab holds its seat): close that tab, or pass another publisher link', { cause: err });
    throw err;
  }
  if (!before.includes(mainRoom)) roomsOpenedHere++;
  const t = await pub.request<{ transportId: string }>('createTransport', { direction: 'send' });
  const { producerId } = await pub.request<{ producerId: string }>('produce', {
    transportId: t.transportId,
    kind: 'video',
    rtpParameters: vp8(0x1000 + Math.floor(Math.random() * 0xffff)),
    source: 'camera',
  });
  return { pub, producerId };
}

// ---- 1. ghost consumers ----------------------------------------------------------------------

async function ghostConsumers(producerId: string): Promise<CheckResult> {
  const rule = `after ${LOOPS} join → recv transport → consume → terminate loops, the workers' consumer (and transport) count returns to its baseline and Node RSS ends within +${RSS_TOLERANCE_MB} MiB of its baseline`;
  const consumeOutcomes: string[] = [];
  // Three ways to vanish: after the consumer exists, while consume is inside mediasoup, and
  // with setRtpCapabilities and consume both still in flight.
  const loop = async (i: number) => {
    let c: Client | undefined;
    try {
      const v = await joined(mainRoom);
      c = v.c;
      await c.request('createTransport', { direction: 'recv' });
      const caps = c.request('setRtpCapabilities', { rtpCapabilities: v.caps });
      if (i % 3 === 2) {
        void caps.catch(() => undefined);
        void c.request('consume', { producerId }).catch(() => undefined);
      } else {
        await caps;
        const consumed = outcome(c.request('consume', { producerId }));
        if (i % 3 === 0) consumeOutcomes.push(await consumed);
      }
    } catch {
      // a refused step is fine: the point is what is left behind
    } finally {
      c?.terminate();
    }
  };
  const run = async (from: number, n: number) => {
    for (let i = from; i < from + n; i += PARALLEL) await Promise.all(Array.from({ length: Math.min(PARALLEL, from + n - i) }, (_, k) => loop(i + k)));
  };

  await run(0, WARMUP_LOOPS);
  await sleep(1000);
  const baseline = await http.workerCounts();
  const rssBase = await rssBytes();
  say(`ghosts: baseline ${baseline.consumers} consumers, ${baseline.transports} transports, RSS ${(rssBase / MiB).toFixed(1)} MiB; ${LOOPS} loops…`);
  consumeOutcomes.length = 0;
  const t0 = Date.now();
  await run(WARMUP_LOOPS, LOOPS);
  const loopsMs = Date.now() - t0;
  const peak = await http.workerCounts();
  const counts = await until(
    () => http.workerCounts(),
    (w) => w.consumers <= baseline.consumers && w.transports <= baseline.transports,
    15_000,
  );
  const rss = await until(rssBytes, (b) => b - rssBase <= RSS_TOLERANCE_MB * MiB, 10_000, 1000);
  const peers = await http.admin<{ peers: number }>('GET', `/admin/rooms/${mainRoom}`);
  const rssDeltaMiB = round((rss.value - rssBase) / MiB);
  const pass = counts.value.consumers === baseline.consumers && counts.value.transports === baseline.transports && rss.reached;
  return {
    status: pass ? 'pass' : 'fail',
    rule,
    observed: {
      loops: LOOPS,
      warmupLoops: WARMUP_LOOPS,
      parallel: PARALLEL,
      loopsMs,
      consumesAnsweredBeforeTerminate: tally(consumeOutcomes),
      baseline: { consumers: baseline.consumers, transports: baseline.transports, rssMiB: round(rssBase / MiB) },
      rightAfterLoops: { consumers: peak.consumers, transports: peak.transports },
      after: { consumers: counts.value.consumers, transports: counts.value.transports, rssMiB: round(rss.value / MiB), countsSettledMs: counts.ms, rssSettledMs: rss.ms },
      rssDeltaMiB,
      rssToleranceMiB: RSS_TOLERANCE_MB,
      peersInRoomAfter: peers.body.peers,
    },
  };
}

// ---- 2. pipelined consumes ---------------------------------------------------------------------

async function pipelinedConsume(producerId: string): Promise<CheckResult> {
  const rule = `of ${PIPELINED_CONSUMES} pipelined consumes of one producer on one socket at most 1 succeeds (and 1 does: the viewer still gets the stream once)`;
  const v = await joined(mainRoom);
  try {
    await v.c.request('createTransport', { direction: 'recv' });
    await v.c.request('setRtpCapabilities', { rtpCapabilities: v.caps });
    const before = await http.workerCounts();
    const codes = await Promise.all(Array.from({ length: PIPELINED_CONSUMES }, () => outcome(v.c.request('consume', { producerId }))));
    const after = await http.workerCounts();
    const ok = codes.filter((c) => c === 'ok').length;
    const consumersCreated = after.consumers - before.consumers;
    return {
      status: ok === 1 && consumersCreated === ok ? 'pass' : 'fail',
      rule,
      observed: { requests: PIPELINED_CONSUMES, succeeded: ok, outcomes: tally(codes), consumersCreatedInWorkers: consumersCreated },
    };
  } finally {
    v.c.close();
  }
}

// ---- 3. pipelined createTransport --------------------------------------------------------------

async function pipelinedTransports(): Promise<CheckResult> {
  const rule = `of ${PIPELINED_TRANSPORTS} pipelined createTransport on one socket at most the cap (${MAX_TRANSPORTS}) succeed, and the workers hold no more`;
  const before = await http.workerCounts();
  const v = await joined(mainRoom);
  let codes: string[];
  let after;
  try {
    codes = await Promise.all(Array.from({ length: PIPELINED_TRANSPORTS }, () => outcome(v.c.request('createTransport', { direction: 'recv' }))));
    after = await http.workerCounts();
  } finally {
    v.c.close();
  }
  const ok = codes.filter((c) => c === 'ok').length;
  const created = after.transports - before.transports;
  const released = await until(() => http.workerCounts(), (w) => w.transports <= before.transports, 10_000);
  return {
    status: ok >= 1 && ok <= MAX_TRANSPORTS && created === ok && released.reached ? 'pass' : 'fail',
    rule,
    observed: {
      requests: PIPELINED_TRANSPORTS,
      cap: MAX_TRANSPORTS,
      succeeded: ok,
      outcomes: tally(codes),
      transportsCreatedInWorkers: created,
      releasedAfterCloseMs: released.reached ? released.ms : null,
    },
  };
}

// ---- 4. rooms per address -----------------------------------------------------------------------

async function roomsPerAddress(): Promise<CheckResult> {
  const rule = `one address cannot hold more rooms it opened than ROOMS_PER_ADDRESS (${ROOMS_PER_ADDRESS}); the next join that would open one is refused`;
  const attempts = ROOMS_PER_ADDRESS + 3;
  const refusalsBefore = await http.metric('fourcast_limit_refusals_total', { limit: 'rooms-per-address' });
  const prefix = `abuse-rooms-${rand()}`;
  const held: { c: Client; room: string }[] = [];
  const codes: string[] = [];
  let firstRefusal: number | null = null;
  try {
    for (let i = 0; i < attempts; i++) {
      const room = `${prefix}-${i}`;
      const c = await Client.connect(wsUrl(room));
      const code = await outcome(c.request('join', {}));
      codes.push(code);
      if (code === 'ok') held.push({ c, room });
      else {
        firstRefusal ??= i + 1;
        c.close();
      }
    }
  } finally {
    for (const h of held) h.c.close();
  }
  const listed = (await openRooms()).filter((r) => r.startsWith(prefix)).length;
  // Give the address its quota back at once instead of after ROOM_GRACE_SECONDS.
  for (const h of held) await http.admin('DELETE', `/admin/rooms/${h.room}`);
  const refusalsAfter = await http.metric('fourcast_limit_refusals_total', { limit: 'rooms-per-address' });
  const opened = held.length;
  const refused = codes.filter((c) => c !== 'ok').length;
  const metricDelta = refusalsBefore === undefined || refusalsAfter === undefined ? null : refusalsAfter - refusalsBefore;
  // Refused by this limit (its metric counts them), not by ROOMS_MAX or a broken join.
  const pass =
    opened + roomsOpenedHere <= ROOMS_PER_ADDRESS &&
    refused > 0 &&
    codes.every((c) => c === 'ok' || c === 'rate-limited') &&
    (metricDelta === null || metricDelta >= refused);
  return {
    status: pass ? 'pass' : 'fail',
    rule,
    observed: {
      limit: ROOMS_PER_ADDRESS,
      alreadyOpenedByThisCheck: roomsOpenedHere,
      attempts,
      opened,
      openListedByAdmin: listed,
      refused,
      firstRefusedAttempt: firstRefusal,
      outcomes: tally(codes),
      refusalMetricDelta: metricDelta,
    },
  };
}

// ---- 5. a ban outlives its room --------------------------------------------------------------

async function banSurvivesRoomClose(): Promise<CheckResult> {
  const rule = 'a viewer banned by a moderator (by peer id, over the protocol) is refused again after an admin closes the room and it reopens: its token, and its address without a token';
  // Banning a viewer bans 127.0.0.1 in this room: a room of its own, last.
  const room = `abuse-ban-${rand()}`;
  const hostToken = await mintToken('publisher', room, 'Abuse Host');
  const bannedToken = await mintToken('viewer', room, 'Banned Viewer');
  const freshToken = await mintToken('viewer', room, 'Other Viewer');
  const upgrade = async (token?: string) => {
    try {
      const c = await Client.connect(wsUrl(room, token));
      const code = await outcome(c.request('join', {}));
      c.close();
      return code === 'ok' ? 'admitted' : `join refused: ${code}`;
    } catch (err) {
      const e = err as UpgradeRefused;
      return e.status ? `${e.status} ${e.error ?? ''}`.trim() : `error: ${e.message}`;
    }
  };
  const sockets: Client[] = [];
  try {
    const host = await joined(room, hostToken);
    sockets.push(host.c);
    const anon = await joined(room);
    sockets.push(anon.c);
    const viewer = await joined(room, bannedToken);
    sockets.push(viewer.c);
    // The host bans both: the anonymous viewer (by address) and the token holder (token and address).
    const banAnon = await outcome(host.c.request('ban', { peerId: anon.peerId, reason: 'abuse check' }));
    const banViewer = await outcome(host.c.request('ban', { peerId: viewer.peerId, reason: 'abuse check' }));
    const closings = await Promise.all(
      [anon.c, viewer.c].map((c) =>
        c
          .waitFor('closing', () => true, 5000)
          .then((d) => (d as { code: string }).code)
          .catch(() => 'none'),
      ),
    );
    const beforeClose = { bannedToken: await upgrade(bannedToken), anonymous: await upgrade() };

    const del = await http.admin('DELETE', `/admin/rooms/${room}`);
    const gone = await until(() => http.admin('GET', `/admin/rooms/${room}`), (r) => r.status === 404, 5000);
    await Promise.race([host.c.closed, sleep(5000)]);
    // Reopened: the host comes back (token holders are judged by their token, not the address).
    const host2 = await joined(room, hostToken);
    sockets.push(host2.c);
    const reopened = (await http.admin('GET', `/admin/rooms/${room}`)).status === 200;
    const afterReopen = { bannedToken: await upgrade(bannedToken), anonymous: await upgrade(), otherToken: await upgrade(freshToken) };
    const refusedBanned = (s: string) => s === '403 banned';
    const pass =
      banAnon === 'ok' &&
      banViewer === 'ok' &&
      gone.reached &&
      reopened &&
      refusedBanned(beforeClose.bannedToken) &&
      refusedBanned(beforeClose.anonymous) &&
      refusedBanned(afterReopen.bannedToken) &&
      refusedBanned(afterReopen.anonymous) &&
      afterReopen.otherToken === 'admitted';
    return {
      status: pass ? 'pass' : 'fail',
      rule,
      observed: {
        room,
        banRequests: { anonymous: banAnon, tokenViewer: banViewer },
        closingCodes: { anonymous: closings[0], tokenViewer: closings[1] },
        beforeClose,
        adminClose: del.status,
        roomGone: gone.reached,
        reopened,
        afterReopen,
      },
    };
  } finally {
    for (const c of sockets) c.close();
    // Leave nothing behind: lift this room's bans and close it.
    await http.admin('DELETE', `/admin/rooms/${room}/bans`).catch(() => undefined);
    await http.admin('DELETE', `/admin/rooms/${room}`).catch(() => undefined);
  }
}

// ---- 6. no token in the node's log ------------------------------------------------------------

async function noTokensInLogs(): Promise<CheckResult> {
  const rule = 'no token the check used (publisher link, admin, minted, forged) appears in the node’s log output';
  const file = args['log-file'];
  if (!file) {
    return { status: 'skipped', rule, observed: {}, reason: 'no --log-file: start the node with `npm start 2>&1 | tee node.log` and pass --log-file node.log' };
  }
  await sleep(1000); // pino writes asynchronously
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { status: 'fail', rule, observed: { file }, reason: `cannot read the log file: ${(err as Error).message}` };
  }
  // The one line where a token belongs: the broadcaster link a development node prints at
  // start (not with NODE_ENV=production; PRINT_LINKS). It is the operator's link, not a log record.
  const all = text.split('\n');
  const banner = all.findIndex((l, i) => i > 0 && /Broadcaster link \(token valid/.test(all[i - 1]!) && l.includes('/broadcast.html?'));
  if (banner >= 0) text = all.filter((_, i) => i !== banner).join('\n');
  const found: Record<string, number> = {};
  for (const [label, secret] of secrets) {
    // A JWT's signature alone is as secret as the whole token (and survives truncation).
    const needles = [secret, ...(secret.split('.').length === 3 ? [secret.split('.')[2]!] : [])].filter((s) => s.length >= 16);
    const n = needles.reduce((a, s) => a + text.split(s).length - 1, 0);
    if (n) found[label] = n;
  }
  const lines = text.split('\n').filter(Boolean).length;
  return {
    status: Object.keys(found).length === 0 && lines > 0 ? 'pass' : 'fail',
    rule,
    observed: { file, bytes: Buffer.byteLength(text), lines, secretsSearched: secrets.size, printedLinkLineExcluded: banner >= 0, occurrences: found },
    ...(lines === 0 ? { reason: 'the log file is empty: is it the node’s output?' } : {}),
  };
}

const round = (x: number) => Math.round(x * 10) / 10;

async function attempt(name: string, fn: () => Promise<CheckResult>, rule: string): Promise<CheckResult> {
  say(`${name}…`);
  const t0 = Date.now();
  try {
    const r = await fn();
    say(`${name}: ${r.status} (${Date.now() - t0} ms)`);
    return r;
  } catch (err) {
    say(`${name}: failed with an error: ${(err as Error).message}`);
    return { status: 'fail', rule, observed: {}, reason: (err as Error).message };
  }
}

async function main(): Promise<void> {
  const node = await preflight();
  const checks: Record<string, CheckResult> = {};
  const t0 = Date.now();
  let staged: Awaited<ReturnType<typeof stage>> | undefined;
  try {
    staged = await stage();
  } catch (err) {
    say(`could not put a publisher on stage: ${(err as Error).message}`);
  }
  const needsStage = (name: string, rule: string, fn: (producerId: string) => Promise<CheckResult>) =>
    staged ? attempt(name, () => fn(staged.producerId), rule) : Promise.resolve<CheckResult>({ status: 'fail', rule, observed: {}, reason: 'no publisher on stage (see above)' });
  checks.ghostConsumers = await needsStage('ghostConsumers', 'consumer count and RSS return to baseline', ghostConsumers);
  checks.pipelinedConsume = await needsStage('pipelinedConsume', 'at most 1 of 50 pipelined consumes succeeds', pipelinedConsume);
  checks.pipelinedCreateTransport = await attempt('pipelinedCreateTransport', pipelinedTransports, 'at most the cap of 60 pipelined createTransport');
  staged?.pub.close();
  checks.roomsPerAddress = await attempt('roomsPerAddress', roomsPerAddress, 'rooms per address within ROOMS_PER_ADDRESS');
  checks.banSurvivesRoomClose = await attempt('banSurvivesRoomClose', banSurvivesRoomClose, 'a banned viewer stays out after the room closes and reopens');
  checks.noTokensInLogs = await attempt('noTokensInLogs', noTokensInLogs, 'no token in the logs');

  const statuses = Object.values(checks).map((c) => c.status);
  const passed = statuses.every((s) => s === 'pass');
  const report = { passed, node, durationMs: Date.now() - t0, checks };
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = passed ? 0 : statuses.includes('fail') ? 1 : 3;
}

main().then(
  // Sockets the server has not closed yet must not keep the process alive.
  () => setTimeout(() => process.exit(), 100).unref(),
  (err: Error) => {
    console.error(`check:abuse: ${err.message}`);
    process.exit(2);
  },
);
