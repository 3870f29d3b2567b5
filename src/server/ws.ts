import type { WebSocketHandler } from "bun";
import { CloseCode, ErrorCode } from "../protocol/codes.ts";
import { parseClientFrame } from "../protocol/parse.ts";
import { inboxOf } from "../rooms/names.ts";
import { type Connection, newConnection, type Socket } from "./connection.ts";
import type { NodeContext } from "./context.ts";
import { leaveRoom } from "./rooms.ts";
import { closeSocket, sendError } from "./send.ts";
import { authenticate, handleFrame } from "./session.ts";

/** Close codes the server chose, logged at info; the rest at debug. */
const NOTABLE = new Set<number>([1008, 1009, 1011, 1013, 4001, 4003, 4004, 4008, 4009, 4029]);

/** Takes one token from the connection's bucket; false when the rate is exceeded. */
function takeToken(conn: Connection, rate: number): boolean {
  const now = performance.now();
  conn.tokens = Math.min(rate, conn.tokens + ((now - conn.refilledAt) / 1000) * rate);
  conn.refilledAt = now;
  if (conn.tokens < 1) return false;
  conn.tokens -= 1;
  return true;
}

/**
 * Runs a connection's frame handlers one after another. A handler starts at once when none is
 * running (the common case), else after the one before it.
 */
function enqueue(ctx: NodeContext, ws: Socket, job: () => Promise<void> | void): void {
  const conn = ws.data;
  let run: Promise<void> | void;
  if (conn.queue) run = conn.queue.then(job);
  else {
    try {
      run = job();
    } catch (err) {
      run = Promise.reject(err);
    }
    if (!(run instanceof Promise)) return;
  }
  const settle = () => {
    if (conn.queue === tail) conn.queue = undefined;
  };
  const tail: Promise<void> = run.then(settle, (err: unknown) => {
    settle();
    ctx.log.error("connection task failed", { client: conn.id, error: String(err) });
    closeSocket(ws, ctx.metrics, CloseCode.internalError);
  });
  conn.queue = tail;
}

/**
 * Sends an error frame after the answers to the connection's earlier frames: while its
 * authentication (or any earlier handler) runs, the error waits its turn, so `connected` stays
 * the first frame and answers keep the order of the frames they answer.
 */
function answerError(
  ctx: NodeContext,
  ws: Socket,
  id: number | undefined,
  code: ErrorCode,
  msg: string,
): void {
  const send = () => {
    if (ws.data.state !== "closed") sendError(ws, ctx.metrics, id, code, msg);
  };
  if (ws.data.queue) enqueue(ctx, ws, send);
  else send();
}

function badFrame(
  ctx: NodeContext,
  ws: Socket,
  id: number | undefined,
  code: ErrorCode,
  msg: string,
) {
  const conn = ws.data;
  conn.badFrames++;
  if (conn.badFrames >= ctx.config.limits.badFrames) {
    ctx.log.info("closing after bad frames", { client: conn.id, user: conn.user, last: msg });
    closeSocket(ws, ctx.metrics, CloseCode.policyViolation);
    return;
  }
  answerError(ctx, ws, id, code, msg);
}

function onMessage(ctx: NodeContext, ws: Socket, raw: string | Buffer): void {
  const conn = ws.data;
  ctx.metrics.framesIn++;
  conn.lastSeen = performance.now();
  if (conn.state === "closed") return;
  const limits = ctx.config.limits;

  if (typeof raw !== "string") {
    if (conn.state === "pending" && !conn.fromUrl) {
      closeSocket(ws, ctx.metrics, CloseCode.unauthorized);
      return;
    }
    badFrame(ctx, ws, undefined, ErrorCode.badRequest, "binary frames are not accepted");
    return;
  }
  const parsed = parseClientFrame(raw);

  if (!takeToken(conn, limits.framesPerSecond)) {
    conn.rateStrikes++;
    if (conn.rateStrikes >= limits.rateLimitStrikes) {
      ctx.log.info("closing rate-limited connection", { client: conn.id, user: conn.user });
      closeSocket(ws, ctx.metrics, CloseCode.rateLimited);
      return;
    }
    const id = parsed.ok ? parsed.frame.id : parsed.id;
    answerError(ctx, ws, id, ErrorCode.rateLimited, "too many frames; slow down");
    return;
  }
  conn.rateStrikes = 0;

  if (!parsed.ok) {
    if (conn.state === "pending" && !conn.fromUrl && parsed.type !== "connect") {
      closeSocket(ws, ctx.metrics, CloseCode.unauthorized);
      return;
    }
    badFrame(ctx, ws, parsed.id, parsed.code, parsed.message);
    return;
  }
  conn.badFrames = 0;
  const frame = parsed.frame;

  if (conn.state === "pending" && !conn.fromUrl) {
    if (frame.type !== "connect") {
      ctx.log.warn("auth failed", {
        client: conn.id,
        remote: ws.remoteAddress,
        reason: `${frame.type} before connect`,
      });
      closeSocket(ws, ctx.metrics, CloseCode.unauthorized);
      return;
    }
    conn.state = "open";
    enqueue(ctx, ws, () => authenticate(ctx, ws, frame.token, frame));
    return;
  }
  if (frame.type === "pong") return;
  enqueue(ctx, ws, () => (ws.data.state === "open" ? handleFrame(ctx, ws, frame) : undefined));
}

function onOpen(ctx: NodeContext, ws: Socket): void {
  const conn = ws.data;
  ctx.sockets++;
  ctx.opened++;
  if (ctx.sockets > ctx.config.limits.maxConnections || ctx.draining) {
    const code = ctx.draining ? CloseCode.restarting : CloseCode.overloaded;
    ctx.log.warn("connection refused", { remote: ws.remoteAddress, code });
    closeSocket(ws, ctx.metrics, code);
    return;
  }
  ctx.unauthenticated.add(ws);
  if (conn.urlToken !== undefined) {
    const token = conn.urlToken;
    conn.urlToken = undefined;
    enqueue(ctx, ws, () => authenticate(ctx, ws, token));
    return;
  }
  conn.connectTimer = setTimeout(() => {
    if (conn.state !== "pending") return;
    ctx.log.info("no connect frame in time", { client: conn.id, remote: ws.remoteAddress });
    closeSocket(ws, ctx.metrics, CloseCode.connectTimeout);
  }, ctx.config.ws.connectTimeoutSeconds * 1000);
}

function onClose(ctx: NodeContext, ws: Socket, code: number, reason: string): void {
  const conn = ws.data;
  const byServer = conn.state === "closed";
  conn.state = "closed";
  ctx.sockets--;
  ctx.unauthenticated.delete(ws);
  // Bun reports a frame over maxPayloadLength as 1006 here, though the client is sent 1009.
  const sent = code === 1006 && reason === "Received too big message" ? CloseCode.tooLarge : code;
  if (!byServer) ctx.metrics.close(sent);
  clearTimeout(conn.connectTimer);
  ctx.expiry.remove(ws);
  for (const room of [...(conn.holds?.keys() ?? [])]) ctx.delivery.release(room, conn);
  if (conn.user) {
    for (const room of [...(conn.rooms?.keys() ?? [])]) leaveRoom(ctx, ws, room);
    if (ctx.registry.remove(ws)) ctx.delivery.forget(inboxOf(conn.user));
  }
  const fields = {
    client: conn.id,
    user: conn.user || undefined,
    code,
    reason: reason || undefined,
  };
  if (NOTABLE.has(code)) ctx.log.info("connection closed", fields);
  else ctx.log.debug("connection closed", fields);
}

/** Bun's WebSocket handlers for edgepush connections. */
export function websocketHandlers(ctx: NodeContext): WebSocketHandler<Connection> {
  const limits = ctx.config.limits;
  return {
    maxPayloadLength: limits.maxFrameBytes,
    // Past four times the soft limit Bun drops the socket at once (1006); a sweep run as soon
    // as a publish meets backpressure closes it with 4008 first.
    backpressureLimit: limits.backpressureBytes * 4,
    closeOnBackpressureLimit: true,
    // Bun's idle timer restarts on every frame sent, server pings included, so it would never
    // fire: the node's own sweep (sweepIdle) closes connections that send nothing.
    idleTimeout: 0,
    sendPings: false,
    publishToSelf: true,
    open: (ws) => onOpen(ctx, ws),
    message: (ws, raw) => onMessage(ctx, ws, raw),
    close: (ws, code, reason) => onClose(ctx, ws, code, reason),
  };
}

/**
 * Upgrades a request to /v1/ws; answers with an error response when it is not a WebSocket. A
 * draining node still upgrades, so that the client is told 1012 (see onOpen) rather than
 * seeing a failed handshake.
 */
export function upgrade(ctx: NodeContext, req: Request, url: URL): Response | undefined {
  const server = ctx.server;
  if (!server) {
    return Response.json(
      { error: { code: "unavailable", message: "node is not listening yet" } },
      { status: 503 },
    );
  }
  const token = url.searchParams.get("token") ?? undefined;
  const data = newConnection(token || undefined, ctx.config.limits.framesPerSecond);
  if (server.upgrade(req, { data })) return undefined;
  return Response.json(
    { error: { code: "bad_request", message: "expected a WebSocket upgrade" } },
    { status: 400 },
  );
}

/** Closes connections that sent nothing, not even `pong`, for `ws.idleTimeoutSeconds`. */
export function sweepIdle(ctx: NodeContext): void {
  const limit = ctx.config.ws.idleTimeoutSeconds * 1000;
  const now = performance.now();
  for (const ws of ctx.registry.sockets()) {
    if (now - ws.data.lastSeen > limit) {
      ctx.log.info("idle timeout", { client: ws.data.id, user: ws.data.user });
      closeSocket(ws, ctx.metrics, CloseCode.normal, "idle timeout");
    }
  }
}

/** Closes connections whose unsent data passed the limit with 4008 (slow consumers). */
export function sweepSlowConsumers(ctx: NodeContext): void {
  const limit = ctx.config.limits.backpressureBytes;
  for (const ws of ctx.registry.sockets()) {
    if (ws.getBufferedAmount() > limit) {
      ctx.log.info("slow consumer", {
        client: ws.data.id,
        user: ws.data.user,
        buffered: ws.getBufferedAmount(),
      });
      closeSocket(ws, ctx.metrics, CloseCode.slowConsumer);
    }
  }
}
