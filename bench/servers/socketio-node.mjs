/**
 * Baseline: Socket.IO 4 on Node's HTTP server, WebSocket transport only.
 *
 * usage: PORT=0 node bench/servers/socketio-node.mjs   (prints {"port":N} once listening)
 */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { attach } from "./socketio-handlers.mjs";

const http = createServer();
const io = new Server(http, { transports: ["websocket"], serveClient: false });
attach(io);
http.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: http.address().port })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
