/**
 * Baseline: Socket.IO 4 on Bun through @socket.io/bun-engine, WebSocket transport only.
 *
 * usage: PORT=0 bun bench/servers/socketio-bun.ts   (prints {"port":N} once listening)
 */
import { Server as Engine } from "@socket.io/bun-engine";
import { Server } from "socket.io";
// @ts-expect-error: plain ESM module shared with the Node variant, no type declarations
import { attach } from "./socketio-handlers.mjs";

const io = new Server({ transports: ["websocket"], serveClient: false });
const engine = new Engine({ path: "/socket.io/" });
io.bind(engine);
attach(io);

const server = Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  ...engine.handler(),
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
