import type { TemplatedApp, us_listen_socket } from './uws.js';
import { loadUws } from './uws.js';

/** Binds a uWS app; resolves with the bound port (so port 0 works in tests). */
export function listenUws(app: TemplatedApp, host: string, port: number): Promise<{ socket: us_listen_socket; port: number }> {
  const uws = loadUws();
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (!socket) {
        reject(new Error(`WebSocket server could not listen on ${host}:${port} (port in use?). Change WS_PORT or WS_HOST.`));
        return;
      }
      resolve({ socket, port: uws.us_socket_local_port(socket as never) });
    });
  });
}

export function closeUws(socket: us_listen_socket): void {
  loadUws().us_listen_socket_close(socket);
}
