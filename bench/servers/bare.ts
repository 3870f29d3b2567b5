/**
 * Baseline: the least a Bun.serve publish server can do. Every socket subscribes to one topic
 * on open; any text frame a socket sends is published to that topic as it is.
 *
 * usage: PORT=0 bun bench/servers/bare.ts   (prints {"port":N} once listening)
 */
const TOPIC = "bench";

const server = Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch(req, srv) {
    if (srv.upgrade(req)) return undefined;
    return new Response("bare bench server\n");
  },
  websocket: {
    idleTimeout: 0,
    open(ws) {
      ws.subscribe(TOPIC);
    },
    message(_ws, message) {
      server.publish(TOPIC, message);
    },
  },
});

process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
