import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import {
  BROADCAST_ROOM,
  inboxOf,
  isRoomName,
  isSystemRoom,
  isUserId,
  type Namespaces,
} from "../rooms/names.ts";
import type { Connection } from "./connection.ts";

function roomName(room: string): void {
  if (isSystemRoom(room))
    throw new EdgepushError(ErrorCode.forbidden, `"${room}" is a system room`);
  if (!isRoomName(room)) {
    throw new EdgepushError(ErrorCode.badRequest, `invalid room name "${room.slice(0, 140)}"`);
  }
}

function tokenRooms(ns: Namespaces, conn: Connection, room: string): void {
  if (ns.of(room).subscribe === "token" && !conn.grants?.(room)) {
    throw new EdgepushError(ErrorCode.forbidden, `the token does not grant room "${room}"`);
  }
}

/** Throws unless `conn` may subscribe to `room` (also used for presence queries). */
export function checkSubscribe(ns: Namespaces, conn: Connection, room: string): void {
  roomName(room);
  tokenRooms(ns, conn, room);
}

/**
 * Throws unless `room` can be unsubscribed from: any well-formed room that is not a system
 * room. Grants are not checked, so a connection can always leave a room its token no longer
 * grants.
 */
export function checkUnsubscribe(room: string): void {
  roomName(room);
}

/** Whether the connection's current token still grants `room` (token-protected rooms). */
export function stillGranted(ns: Namespaces, conn: Connection, room: string): boolean {
  return ns.of(room).subscribe !== "token" || conn.grants?.(room) === true;
}

/** Throws unless `conn` may publish in `room`. */
export function checkPublish(ns: Namespaces, conn: Connection, room: string): void {
  roomName(room);
  if (ns.of(room).publish === "server") {
    throw new EdgepushError(ErrorCode.forbidden, `only the server API publishes in "${room}"`);
  }
  tokenRooms(ns, conn, room);
}

/** Throws unless `conn` may read the history of `room`: its own inbox, broadcast, or a room it may subscribe to. */
export function checkHistory(ns: Namespaces, conn: Connection, room: string): void {
  if (room === BROADCAST_ROOM || room === inboxOf(conn.user)) return;
  checkSubscribe(ns, conn, room);
}

/** Throws unless `user` can be the target of a direct message. */
export function checkUser(user: string): void {
  if (!isUserId(user)) {
    throw new EdgepushError(
      ErrorCode.badRequest,
      "invalid user id: 1-256 characters without control characters",
    );
  }
}
