/**
 * Child process: a socket.io 4 room server as the seed apps used it
 * (`socket.join(room)`, `io.to(room).emit('message', …)`), WebSocket
 * transport only, no compression.
 */
import http from 'node:http';
import { Server } from 'socket.io';
import { ROOM, exitWithParent, openFileLimit, toParent, type ToServer } from './shared.js';

exitWithParent();
const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, httpCompression: false });
io.on('connection', (socket) => {
  void socket.join(ROOM);
  socket.on('message', (m: unknown) => {
    io.to(ROOM).emit('message', m);
  });
});

httpServer.listen(0, '127.0.0.1', () => {
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.on('message', (m: ToServer) => {
    if (m.type === 'gc') {
      globalThis.gc?.();
      toParent({ type: 'gcDone', heapUsed: process.memoryUsage().heapUsed });
    } else if (m.type === 'stop') process.exit(0);
  });
  toParent({ type: 'ready', url: `http://127.0.0.1:${port}`, pid: process.pid, nofile: openFileLimit() });
});
