import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type { TemplatedApp, WebSocket, HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js';

/** Raised when uWebSockets.js runs its pure-JS fallback instead of the native binary. */
export class UwsNativeMissingError extends Error {
  constructor(detail: string) {
    super(
      `uWebSockets.js native binary is not in use (${detail}). ` +
        `Fourcast refuses to run on the slow JS fallback. Check that Node.js is ${process.version} on ` +
        `${process.platform}-${process.arch} with glibc >= 2.27, that UWS_USE_FALLBACK is not set, ` +
        `and reinstall with 'npm ci'.`,
    );
    this.name = 'UwsNativeMissingError';
  }
}

/**
 * Loads uWebSockets.js and checks that its native addon loaded: the package
 * silently swaps in a JS implementation (built on `ws`) that lacks `SSLApp`
 * and is many times slower.
 */
export function loadUws(): typeof UWS {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as typeof UWS;
  if (typeof uws.SSLApp !== 'function' || typeof uws.us_listen_socket_close !== 'function') {
    throw new UwsNativeMissingError('the native addon failed to load for this Node.js build');
  }
  return uws;
}
