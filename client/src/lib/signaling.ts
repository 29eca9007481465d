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
type StateListener = (state: 'connecting' | 'open' | 'closed', detail?: string) => void;

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
  /** Called after every (re)connection; the app re-joins from here. */
  onOpen: (() => void) | undefined;

  constructor(private readonly url: string) {}

  connect(): void {
    this.stopped = false;
    this.emitState('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
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
      const deliberate = ev.code >= 4000 && ev.code < 5000;
      this.emitState('closed', ev.reason || (ev.code === 1006 ? 'connection refused or lost' : `closed (${ev.code})`));
      if (this.stopped || deliberate) return;
      const delay = Math.min(10_000, 250 * 2 ** this.attempt++) * (0.75 + Math.random() * 0.5);
      setTimeout(() => !this.stopped && this.connect(), delay);
    };
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

  private emitState(state: 'connecting' | 'open' | 'closed', detail?: string): void {
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
