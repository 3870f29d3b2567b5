import type { Position } from "../protocol/frames.ts";
import { messageFrame } from "../protocol/serialize.ts";
import { inboxOf } from "../rooms/names.ts";
import { presenceTopic, type Socket } from "./connection.ts";
import type { NodeContext } from "./context.ts";

/** What joining a room's topic yields: the position announced and whether `since` was honoured. */
export interface Joined {
  latest: Position;
  recovered?: boolean;
  /** Sends the replay and held messages, then subscribes the socket to the live topic. */
  finish(): void;
}

/**
 * Prepares a connection to join a room's topic with exact recovery: live messages are held
 * while the position and the missed range are read, so that the client gets the replay, then
 * the held messages, then live ones, with no gap and no duplicate. The caller sends its reply
 * frame, then calls `finish()` in the same tick.
 */
export async function prepareJoin(
  ctx: NodeContext,
  ws: Socket,
  room: string,
  since: Position | undefined,
): Promise<Joined> {
  const conn = ws.data;
  ctx.delivery.hold(room, conn);
  try {
    const latest = await ctx.broker.position(room);
    ctx.delivery.positioned(room, latest);
    const missed = since ? await ctx.reader.missed(room, since, latest) : [];
    const recovered = since ? missed !== undefined : undefined;
    return {
      latest,
      recovered,
      finish: () => {
        const held = ctx.delivery.release(room, conn);
        if (conn.state === "closed") {
          ctx.delivery.left(room);
          return;
        }
        const upto = ctx.delivery.joined(room, latest);
        let last = upto;
        for (const m of missed ?? []) if (m.offset <= upto) ws.send(messageFrame(m));
        for (const m of held) {
          if (m.epoch !== latest.epoch || m.offset <= last) continue;
          ws.send(messageFrame(m));
          last = m.offset;
        }
        ctx.metrics.framesOut += (missed?.length ?? 0) + held.length;
        ws.subscribe(room);
      },
    };
  } catch (err) {
    ctx.delivery.release(room, conn);
    ctx.delivery.left(room);
    throw err;
  }
}

/** Records a connection in a room for presence, announcing a join when it is the user's first. */
export function enterRoom(ctx: NodeContext, ws: Socket, room: string, presence: boolean): void {
  const conn = ws.data;
  conn.rooms ??= new Map();
  conn.rooms.set(room, { presence });
  const tracked = ctx.namespaces.of(room).presence;
  if (ctx.registry.enter(room, conn.user) && tracked) {
    ctx.broker.join(room, conn.user).catch((err: unknown) => {
      ctx.log.warn("presence join failed", { room, error: String(err) });
    });
  }
  if (presence && tracked) ws.subscribe(presenceTopic(room));
}

/** Removes a connection from a room, announcing a leave when it was the user's last. */
export function leaveRoom(ctx: NodeContext, ws: Socket, room: string): void {
  const conn = ws.data;
  conn.rooms?.delete(room);
  if (conn.rooms?.size === 0) conn.rooms = undefined;
  if (conn.state !== "closed") {
    ws.unsubscribe(room);
    ws.unsubscribe(presenceTopic(room));
  }
  if (ctx.registry.exit(room, conn.user) && ctx.namespaces.of(room).presence) {
    ctx.broker.leave(room, conn.user).catch((err: unknown) => {
      ctx.log.warn("presence leave failed", { room, error: String(err) });
    });
  }
  ctx.delivery.left(room);
}

/** The inbox room of a connection's user. */
export function inboxRoom(ws: Socket): string {
  return inboxOf(ws.data.user);
}
