import type * as UWS from 'uWebSockets.js';
import type { TlsFiles } from '../tls.js';
import type { TemplatedApp } from './uws.js';

export interface WsApp {
  app: TemplatedApp;
  /** Registers the routes; they are mounted again on every SNI domain of a TLS app (`sniDomain` true). */
  routes(mount: (app: TemplatedApp, sniDomain: boolean) => void): void;
  /** Makes the next handshake of each server name read the certificate files again. */
  reload(): void;
}

/**
 * The uWS app of the WebSocket server: plain, or TLS from the same files as
 * the HTTP server. uWS reads certificate files when it creates a context, so
 * a reload goes through SNI: each server name a browser asks for gets its own
 * context (and its own mounted routes, sharing the app's topics), created on
 * first use from the current files; `reload()` drops them, and the next
 * handshake for each name reads the files again. Clients that send no SNI
 * (connections to a bare IP address) keep the certificate the process started with.
 */
export function createWsApp(uws: typeof UWS, tls: TlsFiles | undefined): WsApp {
  if (!tls) {
    const app = uws.App();
    return { app, routes: (mount) => mount(app, false), reload: () => undefined };
  }
  const options = { cert_file_name: tls.certFile, key_file_name: tls.keyFile };
  const app = uws.SSLApp(options);
  const names = new Set<string>();
  let mount: (app: TemplatedApp, sniDomain: boolean) => void = () => undefined;
  app.missingServerName((hostname) => {
    names.add(hostname);
    app.addServerName(hostname, options);
    mount(app.domain(hostname), true);
  });
  return {
    app,
    routes(m) {
      mount = m;
      m(app, false);
    },
    reload() {
      for (const name of names) app.removeServerName(name);
      names.clear();
    },
  };
}
