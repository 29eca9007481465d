import http from 'node:http';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

// A local stand-in for api.twilio.com's Tokens endpoint (unreachable here), and
// an SDK http client that sends the real SDK's requests to it.

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  form: URLSearchParams;
}

/** ok: 201 with a token; error: Twilio's 500 JSON; hang: read the request, never answer. */
export type StandInMode = 'ok' | 'error' | 'hang';

export interface TwilioStandIn {
  url: string;
  requests: RecordedRequest[];
  mode: StandInMode;
  /** Delay before answering in `ok`/`error` mode. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startTwilioStandIn(mode: StandInMode = 'ok'): Promise<TwilioStandIn> {
  const requests: RecordedRequest[] = [];
  const standIn: TwilioStandIn = { url: '', requests, mode, delayMs: 0, close: async () => {} };

  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const path = req.url ?? '';
      const form = new URLSearchParams(body);
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, contentType: req.headers['content-type'], form });
      if (standIn.mode === 'hang') return;
      const json = (status: number, payload: unknown) => {
        setTimeout(() => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(payload));
        }, standIn.delayMs);
      };
      if (standIn.mode === 'error') {
        return json(500, { code: 20500, message: 'Internal Server Error', more_info: 'https://www.twilio.com/docs/errors/20500', status: 500 });
      }
      const m = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Tokens\.json$/.exec(path);
      if (req.method !== 'POST' || !m) return json(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
      // Numbered so a test can tell a cached token from a fresh one.
      const n = requests.length;
      const username = `twilio-user-${n}`;
      const credential = `twilio-pass-${n}`;
      const turn = (u: string) => ({ url: u, urls: u, username, credential });
      const now = new Date().toUTCString();
      json(201, {
        account_sid: m[1],
        username,
        password: credential,
        ttl: form.get('Ttl') ?? '86400',
        date_created: now,
        date_updated: now,
        ice_servers: [
          { url: 'stun:global.stun.twilio.com:3478', urls: 'stun:global.stun.twilio.com:3478' },
          turn('turn:global.turn.twilio.com:3478?transport=udp'),
          turn('turn:global.turn.twilio.com:3478?transport=tcp'),
          turn('turn:global.turn.twilio.com:443?transport=tcp'),
        ],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('stand-in did not bind a TCP port');
  standIn.url = `http://127.0.0.1:${addr.port}`;
  standIn.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections(); // includes the ones left hanging on purpose
      server.close(() => resolve());
    });
  return standIn;
}

/** The SDK's own RequestClient (axios, auth, form encoding), aimed at `base` instead of twilio.com. */
export class RedirectingRequestClient extends twilio.RequestClient {
  constructor(private readonly base: string) {
    super({ timeout: 5000 });
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const original = new URL(opts.uri);
    if (original.hostname !== 'api.twilio.com') throw new Error(`unexpected Twilio host ${original.hostname}`);
    return super.request({ ...opts, uri: new URL(original.pathname + original.search, this.base).href });
  }
}
