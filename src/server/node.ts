import type { Server } from "bun";
import type { Config } from "../../config/schema.ts";
import { createVerifier, type TokenVerifier } from "../auth/jwt.ts";
import { createBroker } from "../broker/index.ts";
import { CLUSTER_COUNTERS } from "../broker/stats.ts";
import type { Broker } from "../broker/types.ts";
import { createHistoryStore } from "../history/index.ts";
import type { HistoryStore } from "../history/types.ts";
import { MemoryWindow } from "../history/window.ts";
import type { Logger } from "../log.ts";
import { CloseCode } from "../protocol/codes.ts";
import { BROADCAST_ROOM, Namespaces } from "../rooms/names.ts";
import { burstCollector } from "./collect.ts";
import type { Connection } from "./connection.ts";
import type { NodeContext } from "./context.ts";
import { Delivery } from "./delivery.ts";
import { ExpiryWheel } from "./expiry.ts";
import { createHttpApp } from "./http/app.ts";
import { Metrics } from "./metrics.ts";
import { HistoryReader } from "./reader.ts";
import { Registry } from "./registry.ts";
import { closeSocket } from "./send.ts";
import { sweepIdle, sweepSlowConsumers, upgrade, websocketHandlers } from "./ws.ts";

/** Least time between two slow-consumer sweeps caused by backpressure. */
const SWEEP_GAP_MS = 100;

/** Rooms whose newest messages stay in the memory window. */
const WINDOW_ROOMS = 10_000;

/** A running node. */
export interface EdgeNode {
  readonly ctx: NodeContext;
  readonly port: number;
  /** Graceful drain: stop accepting, close sockets with 1012 in batches, flush history. */
  drain(): Promise<void>;
}

export interface StartOptions {
  config: Config;
  log: Logger;
  /** Replaces the broker named by the config (tests, embedding). */
  broker?: Broker;
  /** Replaces the history store named by the config. */
  store?: HistoryStore;
}

/** Whether the config names any key a client token could be verified with. */
function hasTokenKey(auth: Config["auth"]): boolean {
  return Boolean(auth.secret || auth.publicKey || auth.jwksUrl);
}

/** Refuses every token: the embedded default before a secret or key is configured. */
const refuseAll: TokenVerifier = {
  verify: async () => ({ ok: false, expired: false, reason: "no JWT secret or key configured" }),
};

async function buildContext(opts: StartOptions): Promise<NodeContext> {
  const { config, log } = opts;
  if (config.server.mode === "development" && !hasTokenKey(config.auth)) {
    config.auth.secret = crypto.randomUUID() + crypto.randomUUID();
    log.warn("development mode: signing tokens with a random secret for this run only");
  }
  const namespaces = new Namespaces(config.namespaces);
  const metrics = new Metrics();
  const registry = new Registry();
  const store =
    opts.store ??
    createHistoryStore({
      config: config.history,
      log: log.child({ part: "history" }),
      retentionOf: (room: string) => {
        const ns = namespaces.of(room);
        return { size: ns.historySize, ttlSeconds: ns.historyTtlSeconds };
      },
    });
  const broker = opts.broker ?? (await createBroker(config));
  const window = new MemoryWindow({
    maxRooms: WINDOW_ROOMS,
    maxBytes: config.history.memoryWindowBytes,
    capacityOf: (room) => Math.min(config.history.memoryWindow, namespaces.of(room).historySize),
  });
  const ordered = broker.kind !== "memory";
  const delivery = new Delivery({ window, broker, store, registry, metrics, log, ordered });
  const reader = new HistoryReader({ window, broker, store, namespaces });
  const expiry = new ExpiryWheel((ws) => {
    log.info("token expired", { client: ws.data.id, user: ws.data.user });
    closeSocket(ws, metrics, CloseCode.tokenExpired);
  });
  return {
    config,
    node: config.node.id,
    region: config.node.region,
    startedAt: new Date().toISOString(),
    log,
    metrics,
    namespaces,
    verifier: hasTokenKey(config.auth) ? createVerifier(config.auth) : refuseAll,
    broker,
    store,
    registry,
    delivery,
    reader,
    expiry,
    sockets: 0,
    opened: 0,
    unauthenticated: new Set(),
    draining: false,
  };
}

function registerGauges(ctx: NodeContext): void {
  const m = ctx.metrics;
  m.gauge("edgepush_connections", "Open connections on this node.", () =>
    ctx.registry.connections(),
  );
  m.gauge("edgepush_rooms", "Rooms with subscribers on this node.", () => ctx.registry.roomCount());
  m.gauge("edgepush_broker_up", "1 while the broker is reachable.", () =>
    ctx.broker.up() ? 1 : 0,
  );
  const brokerStats = ctx.broker.stats?.bind(ctx.broker);
  if (brokerStats) {
    for (const [key, help] of Object.entries(CLUSTER_COUNTERS)) {
      const name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      m.counter(`edgepush_broker_${name}_total`, help, () => brokerStats()[key] ?? 0);
    }
  }
  m.gauge(
    "edgepush_window_bytes",
    "Bytes of message frames in the memory window.",
    () => ctx.delivery.windowBytes,
  );
  m.gauge("edgepush_history_pending", "Messages waiting to be written.", () => ctx.store.pending());
  m.gauge(
    "edgepush_history_dirty_rooms",
    "Rooms with offsets not yet written.",
    () => ctx.store.stats().dirty,
  );
  const stats = () => ctx.store.stats();
  m.counter(
    "edgepush_history_written_total",
    "Messages written to history.",
    () => stats().written,
  );
  m.counter("edgepush_history_failures_total", "Failed history writes.", () => stats().failures);
  m.counter(
    "edgepush_history_retained_total",
    "Messages removed by retention.",
    () => stats().retained,
  );
  m.counter(
    "edgepush_gaps_filled_total",
    "Offset gaps filled from hot history.",
    () => ctx.delivery.gapsFilled,
  );
  m.counter(
    "edgepush_gaps_lost_total",
    "Offset gaps that could not be filled.",
    () => ctx.delivery.gapsLost,
  );
}

async function drainSockets(ctx: NodeContext): Promise<void> {
  const { batchSize, batchIntervalMs, timeoutSeconds } = ctx.config.drain;
  const deadline = Date.now() + timeoutSeconds * 1000;
  let closed = 0;
  while (ctx.registry.connections() > 0 && Date.now() < deadline) {
    const batch = [...ctx.registry.sockets()].slice(0, batchSize);
    for (const ws of batch) {
      closeSocket(ws, ctx.metrics, CloseCode.restarting);
      ctx.registry.remove(ws);
    }
    closed += batch.length;
    if (ctx.registry.connections() > 0) await Bun.sleep(batchIntervalMs);
  }
  // Then the sockets that never authenticated, all at once, with the same 1012 (a connection
  // authenticating from now on is closed with it as well, see authenticate).
  const unauthenticated = [...ctx.unauthenticated];
  for (const ws of unauthenticated) closeSocket(ws, ctx.metrics, CloseCode.restarting);
  closed += unauthenticated.length;
  ctx.unauthenticated.clear();
  ctx.log.info("drain closed sockets", { closed });
}

/**
 * Starts a node: opens the history store, starts the broker, and listens for WebSocket and
 * HTTP traffic on one port.
 *
 * @example
 * const node = await startNode({ config: loadConfig(), log });
 * process.on("SIGTERM", () => node.drain().then(() => process.exit(0)));
 */
export async function startNode(opts: StartOptions): Promise<EdgeNode> {
  const ctx = await buildContext(opts);
  const { config, log } = ctx;
  if (!hasTokenKey(config.auth)) {
    log.warn("no JWT secret or key configured: every client token is refused", {
      fix: "set EDGEPUSH_JWT_SECRET or auth.secret / auth.publicKey / auth.jwksUrl",
    });
  }
  if (config.auth.apiKeys.length === 0) {
    log.warn("no API key configured: the HTTP API answers 401", { fix: "set EDGEPUSH_API_KEY" });
  }
  await ctx.store.open();
  await ctx.broker.start({
    config,
    node: ctx.node,
    region: ctx.region,
    startedAt: ctx.startedAt,
    store: ctx.store,
    local: ctx.registry,
    log: log.child({ part: "broker" }),
    sink: {
      message: (m) => ctx.delivery.deliver(m),
      presence: (e) => ctx.delivery.presence(e),
      status: (up) => log.info(up ? "broker up" : "broker down", { broker: ctx.broker.kind }),
    },
  });
  // Every connection is in $broadcast: its order is kept from the position it has now.
  await ctx.broker
    .position(BROADCAST_ROOM)
    .then((p) => ctx.delivery.joined(BROADCAST_ROOM, p))
    .catch((err: unknown) => {
      log.warn("no $broadcast position at start", { error: String(err) });
    });
  registerGauges(ctx);
  ctx.expiry.start();
  const app = createHttpApp(ctx);
  const wsPath = config.ws.path;
  const server: Server<Connection> = Bun.serve<Connection>({
    hostname: config.server.host,
    port: config.server.port,
    // Bodies are bounded by the API itself (413 too_large past limits.maxFrameBytes, read
    // without holding more); Bun's own limit would answer a large declared length first, with
    // an empty 413 instead of the protocol's error body. Bun still answers a declared length
    // of 2^53 or more itself (an empty 413, or 400): this is as high as its limit goes.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === wsPath && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        return upgrade(ctx, req, url);
      }
      return app.fetch(req);
    },
    websocket: websocketHandlers(ctx),
  });
  ctx.server = server;
  ctx.delivery.attach(server);
  // A publish that meets backpressure asks for a sweep of slow consumers. Under load most
  // publishes meet some, and a sweep visits every connection, so one runs only when
  // SWEEP_GAP_MS passed since the last, or when frames of `limits.backpressureBytes` were
  // published since: no socket can then have grown from under the soft limit to Bun's hard
  // limit (four times it, where Bun drops the socket without a 4008) between two sweeps.
  let sweepDue = 0;
  let sweptAtBytes = 0;
  let sweepQueued = false;
  ctx.delivery.onBackpressure = () => {
    if (sweepQueued) return;
    const grown = ctx.delivery.publishedBytes - sweptAtBytes;
    if (performance.now() < sweepDue && grown < config.limits.backpressureBytes) return;
    sweepQueued = true;
    setImmediate(() => {
      sweepQueued = false;
      sweepDue = performance.now() + SWEEP_GAP_MS;
      sweptAtBytes = ctx.delivery.publishedBytes;
      sweepSlowConsumers(ctx);
    });
  };

  const ping = JSON.stringify({ type: "ping" });
  const timers = [
    setInterval(() => {
      // Every connection is subscribed to $broadcast: one publish pings them all.
      if (server.publish(BROADCAST_ROOM, ping) === -1) ctx.delivery.onBackpressure();
    }, config.ws.pingSeconds * 1000),
    setInterval(() => sweepSlowConsumers(ctx), 1000),
    setInterval(burstCollector(ctx), 1000),
    setInterval(() => sweepIdle(ctx), Math.min(5000, config.ws.idleTimeoutSeconds * 250)),
  ];
  log.info("listening", {
    host: config.server.host,
    port: server.port,
    node: ctx.node,
    region: ctx.region,
    broker: ctx.broker.kind,
    history: config.history.url.replace(/\/\/[^@/]*@/, "//***@"),
    mode: config.server.mode,
    ws: wsPath,
  });

  let draining: Promise<void> | undefined;
  return {
    ctx,
    port: server.port ?? config.server.port,
    drain() {
      draining ??= (async () => {
        ctx.draining = true;
        log.info("draining", { connections: ctx.registry.connections() });
        for (const t of timers) clearInterval(t);
        ctx.expiry.stop();
        await drainSockets(ctx);
        await server.stop(true);
        await ctx.broker.close();
        await ctx.store.close();
        log.info("drained", { pending: ctx.store.pending() });
      })();
      return draining;
    },
  };
}
