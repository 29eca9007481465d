import type WebSocket from 'ws';

/** One response frame as the server sent it: `ok`, or the error code. */
export interface TalliedResponse {
  id: number | null;
  /** 'ok' for a success, else the protocol error code. */
  code: string;
}

/**
 * Counts every response frame a socket receives (notifications are ignored),
 * by request id and by outcome, alongside whatever else listens on the socket.
 * For fuzzing: every frame a client sends must be answered exactly once.
 */
export class ResponseTally {
  readonly responses: TalliedResponse[] = [];
  /** Frames that were not JSON or not a response/notification (the server must never send one). */
  readonly garbage: string[] = [];
  private closedWith: { code: number; reason: string } | undefined;

  constructor(ws: WebSocket) {
    ws.on('message', (buf) => {
      const text = String(buf);
      let msg: { type?: unknown; id?: unknown; ok?: unknown; error?: { code?: unknown } };
      try {
        msg = JSON.parse(text) as typeof msg;
      } catch {
        this.garbage.push(text.slice(0, 200));
        return;
      }
      if (msg.type === 'notification') return;
      const id = typeof msg.id === 'number' ? msg.id : msg.id === null ? null : undefined;
      if (msg.type !== 'response' || id === undefined) {
        this.garbage.push(text.slice(0, 200));
        return;
      }
      const code = msg.ok === true ? 'ok' : typeof msg.error?.code === 'string' ? msg.error.code : 'untyped';
      this.responses.push({ id, code });
    });
    ws.on('close', (code, reason) => (this.closedWith = { code, reason: String(reason) }));
  }

  get total(): number {
    return this.responses.length;
  }

  /** The socket's close code and reason, once closed. */
  get closed(): { code: number; reason: string } | undefined {
    return this.closedWith;
  }

  /** Responses by outcome ('ok' or error code). */
  byCode(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.responses) out[r.code] = (out[r.code] ?? 0) + 1;
    return out;
  }

  /** Outcomes of the responses that carried this request id. */
  forId(id: number): string[] {
    return this.responses.filter((r) => r.id === id).map((r) => r.code);
  }

  /** Waits until at least `n` responses arrived (or the socket closed). */
  async waitForTotal(n: number, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.total < n && !this.closedWith && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (this.total < n) {
      throw new Error(`${this.total} of ${n} responses within ${timeoutMs} ms${this.closedWith ? ` (socket closed: ${JSON.stringify(this.closedWith)})` : ''}; by code: ${JSON.stringify(this.byCode())}`);
    }
  }
}
