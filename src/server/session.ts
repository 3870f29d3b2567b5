import type { Identity } from "../auth/jwt.ts";
import { CloseCode, EdgepushError, ErrorCode } from "../protocol/codes.ts";
import type {
  ClientFrame,
  ConnectFrame,
  HistoryFrame,
  PresenceFrame,
  PublishFrame,
  RefreshFrame,
  SendFrame,
  SubscribeFrame,
  UnsubscribeFrame,
} from "../protocol/frames.ts";
import { historyItem } from "../protocol/serialize.ts";
import { BROADCAST_ROOM, inboxOf } from "../rooms/names.ts";
import {
  checkHistory,
  checkPublish,
  checkSubscribe,
  checkUnsubscribe,
  checkUser,
  stillGranted,
} from "./access.ts";
import type { Socket } from "./connection.ts";
import type { NodeContext } from "./context.ts";
import { enterRoom, inboxRoom, leaveRoom, prepareJoin } from "./rooms.ts";
import { closeSocket, sendError, sendFrame } from "./send.ts";

function withId<T extends object>(id: number | undefined, frame: T): T {
  return id === undefined ? frame : { ...frame, id };
}

function armExpiry(ctx: NodeContext, ws: Socket): void {
  const exp = ws.data.exp;
  if (exp === undefined) ctx.expiry.remove(ws);
  else ctx.expiry.set(ws, (exp + ctx.config.auth.clockToleranceSeconds) * 1000);
}

/** Keeps what the connection needs of a verified token: its user, `exp` and room grants. */
function adopt(ws: Socket, identity: Identity): void {
  ws.data.user = identity.user;
  ws.data.exp = identity.exp;
  ws.data.grants = identity.rooms;
}

/**
 * Authenticates a connection from `?token=` or a `connect` frame, then subscribes it to its
 * inbox and `$broadcast` and sends `connected`, replaying missed inbox messages when asked.
 */
export async function authenticate(
  ctx: NodeContext,
  ws: Socket,
  token: string | undefined,
  frame?: ConnectFrame,
): Promise<void> {
  const conn = ws.data;
  const started = performance.now();
  clearTimeout(conn.connectTimer);
  if (token === undefined) {
    if (!ctx.config.auth.anonymous) {
      ctx.log.warn("auth failed", {
        client: conn.id,
        remote: ws.remoteAddress,
        reason: "no token",
      });
      closeSocket(ws, ctx.metrics, CloseCode.unauthorized);
      return;
    }
    conn.user = `anon:${conn.id}`;
  } else {
    const result = await ctx.verifier.verify(token);
    if (!result.ok) {
      ctx.log.warn("auth failed", {
        client: conn.id,
        remote: ws.remoteAddress,
        reason: result.reason,
      });
      closeSocket(
        ws,
        ctx.metrics,
        result.expired ? CloseCode.tokenExpired : CloseCode.unauthorized,
      );
      return;
    }
    adopt(ws, result.identity);
  }
  if (conn.state === "closed") return;
  // The user was disconnected while this connection's token was being checked: it was not
  // listed yet, so it is closed now, the way the disconnect closed the others.
  const kicked = ctx.registry.disconnectedSince(conn.user, started);
  if (kicked) {
    ws.close(kicked.code, kicked.reason);
    return;
  }
  if (ctx.draining) {
    closeSocket(ws, ctx.metrics, CloseCode.restarting);
    return;
  }
  ctx.unauthenticated.delete(ws);
  conn.state = "open";
  ctx.registry.add(ws);
  armExpiry(ctx, ws);

  const inbox = inboxRoom(ws);
  const joined = await prepareJoin(ctx, ws, inbox, frame?.inbox).catch((err: unknown) => {
    if (err instanceof EdgepushError && err.code === ErrorCode.unavailable) return undefined;
    throw err;
  });
  if (!joined) {
    // The cluster broker is out of reach or slow for now: 1013 makes the client back off.
    closeSocket(ws, ctx.metrics, CloseCode.overloaded, "try again later: cluster unavailable");
    return;
  }
  const connected: Record<string, unknown> = {
    type: "connected",
    client: conn.id,
    user: conn.user,
    node: ctx.node,
    region: ctx.region,
    ping: ctx.config.ws.pingSeconds,
    inbox: joined.latest,
  };
  if (joined.recovered !== undefined) connected.recovered = joined.recovered;
  sendFrame(ws, ctx.metrics, withId(frame?.id, connected));
  joined.finish();
  // Only now: `connected` must be the first frame, and broadcasts and pings travel on this
  // topic. A broadcast sent while the connection was being set up is not delivered live;
  // clients that want it read `$broadcast` history (the SDK does).
  if (conn.state === "open") ws.subscribe(BROADCAST_ROOM);
}

async function subscribe(ctx: NodeContext, ws: Socket, f: SubscribeFrame): Promise<void> {
  checkSubscribe(ctx.namespaces, ws.data, f.room);
  if (ws.data.rooms?.has(f.room)) {
    throw new EdgepushError(ErrorCode.badRequest, `already subscribed to "${f.room}"`);
  }
  const joined = await prepareJoin(ctx, ws, f.room, f.since);
  if (ws.data.state === "closed") return joined.finish();
  const reply: Record<string, unknown> = {
    type: "subscribed",
    room: f.room,
    offset: joined.latest.offset,
    epoch: joined.latest.epoch,
  };
  if (joined.recovered !== undefined) reply.recovered = joined.recovered;
  sendFrame(ws, ctx.metrics, withId(f.id, reply));
  joined.finish();
  enterRoom(ctx, ws, f.room, f.presence === true);
}

function unsubscribe(ctx: NodeContext, ws: Socket, f: UnsubscribeFrame): void {
  checkUnsubscribe(f.room);
  if (!ws.data.rooms?.has(f.room)) {
    throw new EdgepushError(ErrorCode.notSubscribed, `not subscribed to "${f.room}"`);
  }
  leaveRoom(ctx, ws, f.room);
  sendFrame(ws, ctx.metrics, withId(f.id, { type: "unsubscribed", room: f.room }));
}

async function publish(ctx: NodeContext, ws: Socket, room: string, data: unknown, id?: number) {
  const message = await ctx.broker.publish({ room, from: ws.data.user, data });
  ctx.delivery.deliver(message);
  ctx.store.append(message);
  ctx.metrics.publishes++;
  const ack = { type: "ack", room, offset: message.offset, epoch: message.epoch };
  sendFrame(ws, ctx.metrics, withId(id, ack));
}

async function publishFrame(ctx: NodeContext, ws: Socket, f: PublishFrame): Promise<void> {
  checkPublish(ctx.namespaces, ws.data, f.room);
  await publish(ctx, ws, f.room, f.data, f.id);
}

async function send(ctx: NodeContext, ws: Socket, f: SendFrame): Promise<void> {
  checkUser(f.to);
  await publish(ctx, ws, inboxOf(f.to), f.data, f.id);
}

async function presence(ctx: NodeContext, ws: Socket, f: PresenceFrame): Promise<void> {
  checkSubscribe(ctx.namespaces, ws.data, f.room);
  if (!ctx.namespaces.of(f.room).presence) {
    throw new EdgepushError(ErrorCode.forbidden, `presence is off for "${f.room}"`);
  }
  const users = await ctx.broker.presence(f.room);
  sendFrame(ws, ctx.metrics, withId(f.id, { type: "presence", room: f.room, users }));
}

async function history(ctx: NodeContext, ws: Socket, f: HistoryFrame): Promise<void> {
  checkHistory(ctx.namespaces, ws.data, f.room);
  const limit = Math.min(f.limit ?? 50, ctx.config.limits.historyLimit);
  const latest = await ctx.broker.position(f.room);
  const messages = await ctx.reader.query(f.room, latest.epoch, latest.offset, {
    since: f.since,
    before: f.before,
    limit,
  });
  const reply = {
    type: "history",
    room: f.room,
    epoch: latest.epoch,
    messages: messages.map(historyItem),
  };
  sendFrame(ws, ctx.metrics, withId(f.id, reply));
}

async function refresh(ctx: NodeContext, ws: Socket, f: RefreshFrame): Promise<void> {
  const result = await ctx.verifier.verify(f.token);
  if (!result.ok) {
    ctx.log.warn("refresh failed", {
      client: ws.data.id,
      user: ws.data.user,
      reason: result.reason,
    });
    throw new EdgepushError(ErrorCode.unauthorized, "token rejected");
  }
  if (result.identity.user !== ws.data.user) {
    throw new EdgepushError(ErrorCode.forbidden, "the token is for another user");
  }
  adopt(ws, result.identity);
  armExpiry(ctx, ws);
  sendFrame(ws, ctx.metrics, withId(f.id, { type: "refreshed", exp: result.identity.exp ?? null }));
  // Token-protected rooms the new token no longer grants are left, each told by an
  // `unsubscribed` frame without id.
  for (const room of [...(ws.data.rooms?.keys() ?? [])]) {
    if (stillGranted(ctx.namespaces, ws.data, room)) continue;
    leaveRoom(ctx, ws, room);
    sendFrame(ws, ctx.metrics, { type: "unsubscribed", room });
    ctx.log.info("subscription revoked by refresh", {
      client: ws.data.id,
      user: ws.data.user,
      room,
    });
  }
}

/** Handles one frame of an authenticated connection. Errors become `error` frames. */
export async function handleFrame(ctx: NodeContext, ws: Socket, f: ClientFrame): Promise<void> {
  try {
    switch (f.type) {
      case "subscribe":
        return await subscribe(ctx, ws, f);
      case "unsubscribe":
        return unsubscribe(ctx, ws, f);
      case "publish":
        return await publishFrame(ctx, ws, f);
      case "send":
        return await send(ctx, ws, f);
      case "presence":
        return await presence(ctx, ws, f);
      case "history":
        return await history(ctx, ws, f);
      case "refresh":
        return await refresh(ctx, ws, f);
      case "ping":
        return sendFrame(ws, ctx.metrics, withId(f.id, { type: "pong" }));
      case "pong":
        return;
      case "connect":
        throw new EdgepushError(ErrorCode.badRequest, "already connected");
    }
  } catch (err) {
    if (err instanceof EdgepushError)
      return sendError(ws, ctx.metrics, f.id, err.code, err.message);
    ctx.log.error("frame failed", { client: ws.data.id, type: f.type, error: String(err) });
    sendError(ws, ctx.metrics, f.id, ErrorCode.internal, "internal error");
  }
}
