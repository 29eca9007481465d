import { loadConfig } from '../../src/config/index.js';
import { startFourcast, type Fourcast } from '../../src/server.js';
import { freePortRange } from './ports.js';
import type { Logger } from 'pino';
import { silentLog } from './pool.js';

/** A whole Fourcast node in the test process, on 127.0.0.1 and free ports. */
export async function startTestNode(env: Record<string, string> = {}, log: Logger = silentLog): Promise<Fourcast> {
  const workers = Number(env.MEDIASOUP_WORKERS ?? 1);
  const config = loadConfig({
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    WS_HOST: '127.0.0.1',
    WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_PORT_BASE: String(await freePortRange(workers)),
    MEDIASOUP_WORKERS: String(workers),
    LOG_FORMAT: 'json',
    ROOM_GRACE_SECONDS: '1',
    DRAIN_GRACE_SECONDS: '1',
    TOKEN_SECRET: 'test-secret-test-secret-test-secret-0123',
    // No STUN server on loopback tests: host candidates only.
    STUN_URLS: 'stun:127.0.0.1:9',
    // Every test client connects from 127.0.0.1: a suite is one very busy address.
    WS_MAX_CONNECTIONS_PER_ADDRESS: '10000',
    ROOMS_PER_ADDRESS: '10000',
    ...env,
  });
  // e2e (vitest.config.ts sets FOURCAST_TEST_PAGES) serves the checked build, like `npm start`;
  // the other projects test the API alone and need no client build.
  const node = await startFourcast(config, log, process.env.FOURCAST_TEST_PAGES === '1' ? {} : { clientDir: null });
  // The default public URL says localhost; tests pin 127.0.0.1 so nothing resolves elsewhere.
  return Object.assign(Object.create(node) as Fourcast, {
    urls: { http: node.urls.http.replace('localhost', '127.0.0.1'), ws: node.urls.ws.replace('localhost', '127.0.0.1') },
  });
}
