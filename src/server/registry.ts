import type { LocalView } from "../broker/types.ts";
import type { Socket } from "./connection.ts";

/** How long a disconnect is remembered for connections still authenticating, and how many. */
const DISCONNECT_MEMORY_MS = 60_000;
const DISCONNECTS_KEPT = 10_000;

/**
 * This node's open connections: by user, and per room the users with their connection
 * counts. It answers the broker's questions about the node (`LocalView`).
 */
export class Registry implements LocalView {
  /** user → its connection, or a set of them once it has more than one (most users have one). */
  readonly #byUser = new Map<string, Socket | Set<Socket>>();
  /** room → user → connections of that user subscribed to the room. */
  readonly #rooms = new Map<string, Map<string, number>>();
  #count = 0;
  /** Recent disconnects by user: when, and the close code and reason they used. */
  readonly #disconnects = new Map<string, { at: number; code: number; reason: string }>();

  /** Adds an authenticated connection; true when it is the user's first on this node. */
  add(ws: Socket): boolean {
    this.#count++;
    const user = ws.data.user;
    const held = this.#byUser.get(user);
    if (held === undefined) {
      this.#byUser.set(user, ws);
      return true;
    }
    if (held instanceof Set) held.add(ws);
    else this.#byUser.set(user, new Set([held, ws]));
    return false;
  }

  /** Removes a connection; true when it was the user's last on this node. */
  remove(ws: Socket): boolean {
    const user = ws.data.user;
    const held = this.#byUser.get(user);
    if (held === ws) {
      this.#byUser.delete(user);
      this.#count--;
      return true;
    }
    if (!(held instanceof Set) || !held.delete(ws)) return false;
    this.#count--;
    if (held.size === 1) this.#byUser.set(user, held.values().next().value as Socket);
    return false;
  }

  /** Records that `user` has one more connection in `room`; true when it is the first. */
  enter(room: string, user: string): boolean {
    let users = this.#rooms.get(room);
    if (!users) {
      users = new Map();
      this.#rooms.set(room, users);
    }
    const n = (users.get(user) ?? 0) + 1;
    users.set(user, n);
    return n === 1;
  }

  /** Records that `user` has one connection fewer in `room`; true when it was the last. */
  exit(room: string, user: string): boolean {
    const users = this.#rooms.get(room);
    const n = users?.get(user);
    if (!users || n === undefined) return false;
    if (n > 1) {
      users.set(user, n - 1);
      return false;
    }
    users.delete(user);
    if (users.size === 0) this.#rooms.delete(room);
    return true;
  }

  /** The connections of `user` on this node. */
  socketsOf(user: string): Socket[] {
    const held = this.#byUser.get(user);
    if (held === undefined) return [];
    return held instanceof Set ? [...held] : [held];
  }

  /** Every open connection, for drain and sweeps. */
  *sockets(): IterableIterator<Socket> {
    for (const held of this.#byUser.values()) {
      if (held instanceof Set) yield* held;
      else yield held;
    }
  }

  users(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [user, held] of this.#byUser) out.set(user, held instanceof Set ? held.size : 1);
    return out;
  }

  rooms(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [room, users] of this.#rooms) {
      let n = 0;
      for (const c of users.values()) n += c;
      out.set(room, n);
    }
    return out;
  }

  /** Whether any connection on this node is in `room`. */
  hasRoom(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** Rooms with at least one subscribed connection on this node. */
  roomCount(): number {
    return this.#rooms.size;
  }

  presence(room: string): string[] {
    return [...(this.#rooms.get(room)?.keys() ?? [])];
  }

  connections(): number {
    return this.#count;
  }

  /**
   * Closes every connection of `user` on this node, and remembers the disconnect for a minute
   * so that a connection of the user still authenticating (not listed yet) is closed as well
   * once it is (see `disconnectedSince`).
   */
  disconnect(user: string, code: number, reason: string): number {
    const sockets = this.socketsOf(user);
    for (const ws of sockets) ws.close(code, reason);
    const now = performance.now();
    // Kept in the order made (a user disconnected again moves to the end), so the oldest go
    // first: past a minute, or past DISCONNECTS_KEPT entries.
    this.#disconnects.delete(user);
    this.#disconnects.set(user, { at: now, code, reason });
    for (const [u, d] of this.#disconnects) {
      if (now - d.at <= DISCONNECT_MEMORY_MS && this.#disconnects.size <= DISCONNECTS_KEPT) break;
      this.#disconnects.delete(u);
    }
    return sockets.length;
  }

  /** The disconnect of `user` made at or after `since` (performance.now()), if any. */
  disconnectedSince(user: string, since: number): { code: number; reason: string } | undefined {
    const d = this.#disconnects.get(user);
    return d && d.at >= since ? d : undefined;
  }
}
