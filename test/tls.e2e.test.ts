import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../src/server.js';
import { launchChromium } from './helpers/browser.js';
import { decodingAll, peerIdOf, poll } from './helpers/pages.js';
import { freePortRange } from './helpers/ports.js';
import { startTestNode } from './helpers/server.js';
import { makeCert, type TestCert } from './helpers/tls.js';

// The secure-context path a remote broadcaster takes: a page on https://NAME (not
// localhost) may use camera and microphone only over TLS. NAME resolves to 127.0.0.1
// inside Chromium alone (--host-resolver-rules); Chromium trusts exactly the test's
// key (--ignore-certificate-errors-spki-list), nothing else.

const NAME = 'stage.fourcast.test';
const root = path.resolve(import.meta.dirname, '..');

function chromiumFor(cert: TestCert): Promise<Browser> {
  return launchChromium([`--host-resolver-rules=MAP ${NAME} 127.0.0.1`, `--ignore-certificate-errors-spki-list=${cert.spki}`]);
}

/** A broadcaster goes live on `base`, a viewer decodes it, chat crosses: the whole stage over TLS. */
async function stageWorks(browser: Browser, node: Fourcast, base: string, room: string, errors: string[]): Promise<{ wsUrl: string }> {
  const open = async (url: string, label: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => errors.push(`[${label}] ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && errors.push(`[${label}] ${m.text()}`));
    await page.goto(url);
    return page;
  };
  const token = await node.tokens.mint({ role: 'publisher', room, name: 'Remote', ttlSeconds: 600 });
  const caster = await open(`${base}/broadcast.html?room=${room}&token=${token}&quality=low`, 'caster');
  expect(await caster.evaluate(() => (globalThis as any).isSecureContext)).toBe(true);
  await caster.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
  await caster.click('#go-live');
  await caster.waitForSelector('#live-badge:not(.hidden)', { timeout: 20_000 });
  const casterId = (await peerIdOf(caster))!;
  const wsUrl = (await caster.evaluate(() => (globalThis as any).fourcast.signaling.url)) as string;

  const viewer = await open(`${base}/watch.html?room=${room}`, 'viewer');
  await poll(() => decodingAll(viewer, [casterId]), (r) => r.ok, 20_000, 'viewer decoding over TLS');
  await viewer.fill('.chat-form input', 'secure hello');
  await viewer.press('.chat-form input', 'Enter');
  await caster.waitForSelector('.chat .msg:has-text("secure hello")', { timeout: 10_000 });
  await caster.context().close();
  await viewer.context().close();
  return { wsUrl };
}

function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: NAME, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.once('error', reject);
  });
}

describe('built-in TLS (TLS_CERT_FILE, TLS_KEY_FILE)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-tls-'));
  const certs = { first: makeCert(dir, 'first', [NAME]), second: makeCert(dir, 'second', [NAME]) };
  const live = { certFile: path.join(dir, 'live.crt'), keyFile: path.join(dir, 'live.key') };
  let node: Fourcast;
  let browser: Browser;
  const errors: string[] = [];

  beforeAll(async () => {
    fs.copyFileSync(certs.first.certFile, live.certFile);
    fs.copyFileSync(certs.first.keyFile, live.keyFile);
    node = await startTestNode({ TLS_CERT_FILE: live.certFile, TLS_KEY_FILE: live.keyFile, MEDIASOUP_WORKERS: '1' });
    browser = await chromiumFor(certs.first);
  });
  afterAll(async () => {
    if (errors.length) console.log(errors.join('\n'));
    await browser?.close();
    await node?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the stage over https:// and wss:// on a non-localhost name', async () => {
    const port = new URL(node.urls.http).port;
    const { wsUrl } = await stageWorks(browser, node, `https://${NAME}:${port}`, 'tls-direct', errors);
    expect(wsUrl).toMatch(new RegExp(`^wss://${NAME.replace(/\./g, '\\.')}:\\d+/ws\\?`));
    expect(errors).toEqual([]);
  });

  it('reloads the certificate of both servers without a restart', async () => {
    const { http: httpPort, ws: wsPort } = node.ports;
    expect(await peerFingerprint(httpPort)).toBe(certs.first.fingerprint);
    expect(await peerFingerprint(wsPort)).toBe(certs.first.fingerprint);
    fs.copyFileSync(certs.second.certFile, live.certFile);
    fs.copyFileSync(certs.second.keyFile, live.keyFile);
    node.reloadTls();
    expect(await peerFingerprint(httpPort)).toBe(certs.second.fingerprint);
    expect(await peerFingerprint(wsPort)).toBe(certs.second.fingerprint);
    // A key that does not match is refused and the served certificate stays.
    fs.copyFileSync(certs.first.keyFile, live.keyFile);
    expect(() => node.reloadTls()).toThrow(/TLS_KEY_FILE: .* is not the key of the certificate/);
    expect(await peerFingerprint(httpPort)).toBe(certs.second.fingerprint);
  });
});

describe('behind nginx (config/proxy/nginx.conf), one origin for pages and socket', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-nginx-'));
  const cert = makeCert(dir, 'proxy', [NAME]);
  let node: Fourcast;
  let nginx: ChildProcess;
  let browser: Browser;
  let proxyPort: number;
  const errors: string[] = [];

  beforeAll(async () => {
    proxyPort = await freePortRange(1);
    const plainPort = await freePortRange(1);
    node = await startTestNode({ TRUST_PROXY: '127.0.0.1', PUBLIC_URL: `https://${NAME}:${proxyPort}`, MEDIASOUP_WORKERS: '1' });
    const { http: httpPort, ws: wsPort } = node.ports;
    // The shipped example with this test's names, ports and files substituted.
    const site = fs
      .readFileSync(path.join(root, 'config/proxy/nginx.conf'), 'utf8')
      .replaceAll('live.example.com', NAME)
      .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${proxyPort} ssl http2;`)
      .replace(/listen 80;/, `listen 127.0.0.1:${plainPort};`)
      .replace(/^\s*listen \[::\]:\d+.*$/gm, '')
      .replace(/ssl_certificate .*;/, `ssl_certificate ${cert.certFile};`)
      .replace(/ssl_certificate_key .*;/, `ssl_certificate_key ${cert.keyFile};`)
      .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${httpPort};`)
      .replace('server 127.0.0.1:3001;', `server 127.0.0.1:${wsPort};`);
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\ndaemon off;\nevents { worker_connections 256; }\n` +
        `http {\n access_log off;\n client_body_temp_path ${dir}/body;\n proxy_temp_path ${dir}/proxy;\n` +
        ` fastcgi_temp_path ${dir}/fcgi;\n uwsgi_temp_path ${dir}/uwsgi;\n scgi_temp_path ${dir}/scgi;\n${site}\n}\n`,
    );
    const check = spawnSync('nginx', ['-t', '-q', '-c', conf, '-p', dir], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    nginx = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
    await poll(async () => fetch(`http://127.0.0.1:${plainPort}/`, { redirect: 'manual' }).then((r) => r.status, () => 0), (s) => s === 301, 10_000, 'nginx up');
    browser = await chromiumFor(cert);
  });
  afterAll(async () => {
    if (errors.length) console.log(errors.join('\n'));
    await browser?.close();
    nginx?.kill('SIGQUIT');
    if (errors.length) console.log(fs.readFileSync(path.join(dir, 'error.log'), 'utf8'));
    await node?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints links on the public https name, with the socket on the same origin', () => {
    expect(node.urls.http).toBe(`https://${NAME}:${proxyPort}`);
    expect(node.urls.ws).toBe(`wss://${NAME}:${proxyPort}/ws`);
  });

  it('a broadcaster on https://NAME publishes through the proxy, a viewer decodes, chat crosses', async () => {
    const { wsUrl } = await stageWorks(browser, node, `https://${NAME}:${proxyPort}`, 'behind-nginx', errors);
    expect(wsUrl.startsWith(`wss://${NAME}:${proxyPort}/ws?`)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('keeps /metrics and /admin off the public name', async () => {
    const browserless = await poll(
      () => new Promise<number>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: proxyPort, servername: NAME, rejectUnauthorized: false }, () => {
          s.write(`GET /metrics HTTP/1.1\r\nHost: ${NAME}\r\nConnection: close\r\n\r\n`);
        });
        let out = '';
        s.on('data', (d) => (out += d.toString()));
        s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1] ?? 0)));
        s.on('error', () => resolve(0));
      }),
      (status) => status !== 0,
      5_000,
      'a /metrics answer',
    );
    expect(browserless).toBe(404);
  });
});

describe('the Caddy example', () => {
  it('is a valid Caddyfile (caddy adapt)', () => {
    const run = spawnSync('caddy', ['adapt', '--config', path.join(root, 'config/proxy/Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as { apps: { http: { servers: Record<string, { routes: unknown[] }> } } };
    expect(JSON.stringify(json.apps.http.servers)).toContain('127.0.0.1:3001');
  });
});
