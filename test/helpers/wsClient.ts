import WebSocket from 'ws';
import type { Method, NotificationName, Notifications, RequestData, ResponseData } from '../../src/protocol/messages.js';

export interface ServerErrorReply {
  code: string;
  message: string;
}

/** A protocol client over a real WebSocket (the `ws` package), for integration tests. */
export class TestClient {
  readonly notifications: { method: string; data: unknown }[] = [];
  readonly orphanErrors: ServerErrorReply[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (buf) => {
      const msg = JSON.parse(String(buf)) as { type: string; id: number | null; ok: boolean; data: unknown; error: ServerErrorReply; method: string };
      if (msg.type === 'notification') {
        this.notifications.push({ method: msg.method, data: msg.data });
        return;
      }
      const p = msg.id === null ? undefined : this.pending.get(msg.id);
      if (!p) {
        if (!msg.ok) this.orphanErrors.push(msg.error);
        return;
      }
      this.pending.delete(msg.id!);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /** `headers`: extra upgrade headers (X-Forwarded-For through a trusted proxy, say). */
  static connect(url: string, headers?: Record<string, string>): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, headers ? { headers } : undefined);
      ws.once('open', () => resolve(new TestClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body || '{}') })));
      });
      ws.once('error', reject);
    });
  }

  request<M extends Method>(method: M, data: RequestData<M>): Promise<ResponseData[M]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }

  /** Sends anything (fuzzing, malformed frames). */
  raw(data: string | Buffer): void {
    this.ws.send(data);
  }

  async waitFor<N extends NotificationName>(method: N, pred: (d: Notifications[N]) => boolean = () => true, timeoutMs = 10_000): Promise<Notifications[N]> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const hit = this.notifications.find((n) => n.method === method && pred(n.data as Notifications[N]));
      if (hit) return hit.data as Notifications[N];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${method} notification within ${timeoutMs} ms`);
  }

  close(): void {
    this.ws.close();
  }
}

export function errorCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? 'no-code',
  );
}

/** Opens clients to `base()`'s socket (query string appended) and remembers them, so a suite can close them all. */
export function clientPool(base: () => string): { connect(query: string): Promise<TestClient>; closeAll(): void } {
  const clients: TestClient[] = [];
  return {
    async connect(query) {
      const c = await TestClient.connect(`${base()}?${query}`);
      clients.push(c);
      return c;
    },
    closeAll() {
      for (const c of clients.splice(0)) c.close();
    },
  };
}
