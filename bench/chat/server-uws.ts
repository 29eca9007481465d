/**
 * Child process: the ceiling. A bare uWebSockets.js server whose every
 * connection subscribes to one topic; each received message is published,
 * unchanged, to that topic (once, uWS fans it out). Nothing else: no parsing,
 * no validation, no state.
 */
import { loadUws } from '../../src/signaling/uws.js';
import { ROOM, exitWithParent, openFileLimit, toParent, type ToServer } from './shared.js';

exitWithParent();
const uws = loadUws(); // the native addon, or an error (never the slow JS fallback)
const topic = `room/${ROOM}`;
const app = uws.App();
app.ws('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 60,
  // Same hard cap as Fourcast (4 × WS_MAX_BUFFER_BYTES); past it uWS drops the frame for that subscriber.
  maxBackpressure: 2 * 1024 * 1024,
  open: (ws) => {
    ws.subscribe(topic);
  },
  message: (_ws, message, isBinary) => {
    app.publish(topic, message, isBinary);
  },
});

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    toParent({ type: 'fatal', message: 'uWS could not listen on 127.0.0.1' });
    process.exit(1);
  }
  const port = uws.us_socket_local_port(socket as never);
  process.on('message', (m: ToServer) => {
    if (m.type === 'gc') {
      globalThis.gc?.();
      toParent({ type: 'gcDone', heapUsed: process.memoryUsage().heapUsed });
    } else if (m.type === 'stop') process.exit(0);
  });
  toParent({ type: 'ready', url: `ws://127.0.0.1:${port}/`, pid: process.pid, nofile: openFileLimit() });
});
