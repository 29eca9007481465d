import WebSocket from 'ws';

/**
 * The few pieces of the Fourcast wire protocol the abuse check needs (docs/protocol.md),
 * written against the wire and not imported from src/ or test/: the check runs against a
 * node it knows only by its URLs, as any other client would.
 */

export interface ProtocolFailure extends Error {
  /** Protocol error code (`invalid-state`, `rate-limited`, ...), or `socket-closed`. */
  code: string;
}

/** An upgrade the server refused: HTTP status and its `{ error, message }` body. */
export interface UpgradeRefused extends Error {
  status: number;
  error: string | undefined;
}

interface Frame {
  type: string;
  id?: number | null;
  ok?: boolean;
  data?: unknown;
  error?: { code: string; message: string };
  method?: string;
}

/** One participant: a WebSocket with numbered requests and the notifications it got. */
export class Client {
  readonly notifications: { method: string; data: unknown }[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  /** Settles when the socket closes, with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    // A reset after the open ends up in `closed`; without a listener it would crash the check.
    ws.on('error', () => undefined);
    ws.on('message', (buf) => {
      let msg: Frame;
      try {
        msg = JSON.parse(String(buf)) as Frame;
      } catch {
        return;
      }
      if (msg.type === 'notification') {
        this.notifications.push({ method: String(msg.method), data: msg.data });
        return;
      }
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id as number);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(failure(msg.error?.code ?? 'no-code', msg.error?.message ?? 'no message'));
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        // Requests still waiting will never be answered: fail them instead of hanging.
        for (const p of this.pending.values()) p.reject(failure('socket-closed', `socket closed (${code}) before the answer`));
        this.pending.clear();
        resolve({ code, reason: String(reason) });
      }),
    );
  }

  /** Opens `url`; rejects with an {@link UpgradeRefused} when the server refuses the upgrade. */
  static connect(url: string, timeoutMs = 10_000): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          let error: string | undefined;
          try {
            error = (JSON.parse(body) as { error?: string }).error;
          } catch {
            error = undefined;
          }
          const err = new Error(`upgrade refused: HTTP ${res.statusCode}${error ? ` ${error}` : ''}`) as UpgradeRefused;
          err.status = res.statusCode ?? 0;
          err.error = error;
          reject(err);
          ws.terminate();
        });
      });
      ws.once('error', reject);
    });
  }

  request<T = Record<string, unknown>>(method: string, data: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) return reject(failure('socket-closed', 'socket is not open'));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }

  /** Waits for a notification that matches, or fails after `timeoutMs`. */
  async waitFor(method: string, pred: (data: unknown) => boolean = () => true, timeoutMs = 5000): Promise<unknown> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const hit = this.notifications.find((n) => n.method === method && pred(n.data));
      if (hit) return hit.data;
      await sleep(20);
    }
    throw new Error(`no ${method} notification within ${timeoutMs} ms`);
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the TCP connection without a closing handshake, as a crashed or hostile client does. */
  terminate(): void {
    this.ws.terminate();
  }
}

function failure(code: string, message: string): ProtocolFailure {
  return Object.assign(new Error(message), { code });
}

/** `ok`, or the protocol error code the request failed with. */
export function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code?: string; status?: number; error?: string }) => e.code ?? e.error ?? (e.status ? `http-${e.status}` : 'no-code'),
  );
}

/** `{ code: count }` of a list of outcomes. */
export function tally(codes: readonly string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const c of codes) t[c] = (t[c] ?? 0) + 1;
  return t;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** RTP parameters of a minimal VP8 sender: enough for the server to create a producer, no browser needed. */
export const vp8 = (ssrc: number) => ({
  mid: '0',
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [] }],
  encodings: [{ ssrc }],
  headerExtensions: [],
  rtcp: { cname: `abuse${ssrc}` },
});

/** The node's HTTP side: admin routes with the bearer token, and /metrics. */
export class Http {
  constructor(
    readonly base: string,
    private readonly adminToken: string,
    private readonly metricsToken: string | undefined,
  ) {}

  async admin<T>(method: string, path: string, body?: object): Promise<{ status: number; body: T }> {
    const res = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${this.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T };
  }

  /** Consumers and WebRTC transports over every worker, as `GET /admin/workers` counts them. */
  async workerCounts(): Promise<{ consumers: number; transports: number; routers: number; workers: number }> {
    const r = await this.admin<{ workers: { consumers: number; transports: number; routers: number }[] }>('GET', '/admin/workers');
    if (r.status !== 200) throw new Error(`GET /admin/workers answered ${r.status}: ${JSON.stringify(r.body)}`);
    const sum = (k: 'consumers' | 'transports' | 'routers') => r.body.workers.reduce((a, w) => a + w[k], 0);
    return { consumers: sum('consumers'), transports: sum('transports'), routers: sum('routers'), workers: r.body.workers.length };
  }

  async metricsText(): Promise<string> {
    const res = await fetch(`${this.base}/metrics`, {
      headers: this.metricsToken ? { authorization: `Bearer ${this.metricsToken}` } : {},
      signal: AbortSignal.timeout(15_000),
    });
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}${res.status === 401 ? ' (pass --metrics-token)' : ''}`);
    return res.text();
  }

  /** One sample (sum over its label sets) of a Prometheus metric, or undefined when absent. */
  async metric(name: string, labels?: Record<string, string>): Promise<number | undefined> {
    const text = await this.metricsText();
    let found: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
      if (labels && !Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) found = (found ?? 0) + v;
    }
    return found;
  }
}
