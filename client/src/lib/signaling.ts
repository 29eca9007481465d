import type { ErrorCode, Method, NotificationName, Notifications, RequestData, ResponseData, ServerMessage } from '../../../src/protocol/messages';

/** An error answered by the server, with the protocol's code. */
export class ServerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

type Listener<N extends NotificationName> = (data: Notifications[N]) => void;
/**
 * `refused`: the server will not let this link in (expired, forged, wrong room, banned); no retry.
 * `ended`: the server closed this connection for good (kicked, banned, room closed by an admin,
 * the link taken over by another tab); no retry. Everything else (`closed`) is retried.
 */
export type SignalingState = 'connecting' | 'open' | 'closed' | 'refused' | 'ended';

/** `closing` codes after which reconnecting would be wrong. A restart (`shutdown`, `draining`) is retried. */
const FINAL_CLOSING = new Set(['kicked', 'banned', 'room-closed', 'replaced']);
/** WebSocket close codes the server uses for kick (4001), ban (4003), replaced (4009). */
const FINAL_CLOSE_CODES = new Set([4001, 4003, 4009]);
/** Reconnection delays stay short: a restarted server should see its pages back within seconds. */
const MAX_RETRY_MS = 3000;
/** Failed connections in a row before a page tries another node of the cluster (about 2 s of trying). */
const FAILOVER_ATTEMPTS = 3;

/** Close codes in words, for people (never "closed (1005)"). */
export function closeText(code: number, reason: string, opened: boolean): string {
  if (reason) return reason;
  if (code === 1006) return opened ? 'connection lost' : 'cannot reach the server';
  if (code === 1001) return 'the server is going away';
  if (code === 1011) return 'the server had an error';
  if (code === 1012) return 'the server is restarting';
  return 'connection closed';
}
type StateListener = (state: SignalingState, detail?: string) => void;

/** Why a link is refused, as `POST /api/access` says; null when it would be let in. */
export type AccessCheck = () => Promise<{ code: string; message: string } | null>;

/**
 * Request/response and notifications over one WebSocket, typed by the shared
 * protocol module. Reconnects with capped exponential backoff unless the
 * server closed the socket on purpose (kick, ban, room closed: codes 4000+).
 */
export class Signaling {
  private ws: WebSocket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: number }>();
  private readonly listeners = new Map<string, Set<(d: unknown) => void>>();
  private readonly stateListeners = new Set<StateListener>();
  private attempt = 0;
  private stopped = false;
  private everOpened = false;
  /** Called after every (re)connection; the app re-joins from here. */
  onOpen: (() => void) | undefined;
  /** The refusal, once the server has refused this link for good. */
  refusal: { code: string; message: string } | undefined;
  /** Why the server ended this page's session for good (kicked, banned, room closed, replaced). */
  ended: { code: string; reason: string } | undefined;
  /** The latest `closing` notification of the current socket. */
  private closing: { code: string; reason: string } | undefined;
  /** Set by a `draining` notification: the next close is a restart, retried after this hint. */
  private drainRetryMs: number | undefined;

  /**
   * `checkAccess` runs when a socket closes before it opened: a browser cannot
   * read the status of a refused upgrade, so the page asks the server why.
   */
  /**
   * Cluster mode: the other nodes' socket URLs (same room and token). After
   * FAILOVER_ATTEMPTS failed connections in a row the page tries the next one: a dead
   * node's audience carries on from a live one.
   */
  private alternates: string[] = [];

  constructor(
    private url: string,
    private readonly checkAccess?: AccessCheck,
  ) {
    this.on('closing', (c) => (this.closing = { code: c.code, reason: c.reason }));
    this.on('draining', (d) => (this.drainRetryMs = d.retryAfterMs));
  }

  connect(): void {
    this.stopped = false;
    this.emitState('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = this.everOpened = true;
      this.attempt = 0;
      this.emitState('open');
      this.onOpen?.();
    };
    ws.onmessage = (ev) => this.onMessage(String(ev.data));
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new ServerError('invalid-state', 'connection lost'));
        this.pending.delete(id);
      }
      const closing = this.closing;
      this.closing = undefined;
      const final = (closing && FINAL_CLOSING.has(closing.code)) || FINAL_CLOSE_CODES.has(ev.code);
      if (final && !this.stopped) {
        this.stopped = true;
        this.ended = { code: closing?.code ?? (ev.code === 4003 ? 'banned' : ev.code === 4009 ? 'replaced' : 'kicked'), reason: closing?.reason ?? ev.reason };
        this.emitState('ended', this.ended.reason);
        return;
      }
      this.emitState('closed', closeText(ev.code, ev.reason, opened));
      if (this.stopped) return;
      if (!opened && this.checkAccess) void this.retryUnlessRefused();
      else this.retry();
    };
  }

  /** Other nodes to try when this one stays unreachable (cluster mode). */
  setAlternates(urls: string[]): void {
    this.alternates = urls.filter((u) => u !== this.url);
  }

  /** The socket URL in use (another node's after a failover). */
  get currentUrl(): string {
    return this.url;
  }

  private retry(): void {
    if (this.attempt >= FAILOVER_ATTEMPTS && this.alternates.length) {
      // This node stays unreachable: the next one, and this one goes to the back of the list.
      const next = this.alternates.shift()!;
      this.alternates.push(this.url);
      this.url = next;
      this.attempt = 0;
    }
    const hint = this.drainRetryMs;
    this.drainRetryMs = undefined;
    const backoff = Math.min(MAX_RETRY_MS, 250 * 2 ** this.attempt++);
    const delay = Math.min(MAX_RETRY_MS, Math.max(backoff, hint ?? 0)) * (0.75 + Math.random() * 0.5);
    setTimeout(() => !this.stopped && this.connect(), delay);
  }

  /** A socket refused at the upgrade: ask why; a refusal is final, anything else is retried. */
  private async retryUnlessRefused(): Promise<void> {
    let refusal: { code: string; message: string } | null = null;
    try {
      refusal = await this.checkAccess!();
    } catch {
      // The HTTP side is unreachable too: the server is down or restarting.
    }
    if (refusal && refusal.code !== 'draining') {
      this.refusal = refusal;
      this.stopped = true;
      this.emitState('refused', refusal.message);
      return;
    }
    if (!this.stopped) this.retry();
  }

  /** True once a socket of this page has been open (a later drop is a reconnection). */
  get wasOpen(): boolean {
    return this.everOpened;
  }

  close(): void {
    this.stopped = true;
    this.ws?.close(1000, 'bye');
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  request<M extends Method>(method: M, data: RequestData<M>, timeoutMs = 15_000): Promise<ResponseData[M]> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new ServerError('invalid-state', 'not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new ServerError('internal', `${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      ws.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }

  on<N extends NotificationName>(name: N, fn: Listener<N>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn as (d: unknown) => void);
    return () => set.delete(fn as (d: unknown) => void);
  }

  onState(fn: StateListener): void {
    this.stateListeners.add(fn);
  }

  private emitState(state: SignalingState, detail?: string): void {
    for (const fn of this.stateListeners) fn(state, detail);
  }

  private onMessage(text: string): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (msg.type === 'response') {
      const p = msg.id === null ? undefined : this.pending.get(msg.id);
      if (!p) {
        if (!msg.ok) console.warn('server error', msg.error);
        return;
      }
      this.pending.delete(msg.id!);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(new ServerError(msg.error.code, msg.error.message));
      return;
    }
    for (const fn of this.listeners.get(msg.method) ?? []) {
      try {
        fn(msg.data);
      } catch (err) {
        console.error(`handler for ${msg.method} failed`, err);
      }
    }
  }
}
