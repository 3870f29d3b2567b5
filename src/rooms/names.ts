import type { Config, NamespaceOptions } from "../../config/schema.ts";

/** A room name clients may use: `^[A-Za-z0-9_\-.:/]{1,128}$`. */
export const ROOM_NAME = /^[A-Za-z0-9_\-.:/]{1,128}$/;

/** The room every connection is subscribed to on connect. */
export const BROADCAST_ROOM = "$broadcast";

/** Prefix of a user's inbox room. */
export const INBOX_PREFIX = "@";

/** Whether `room` is a valid client room name (system rooms are not). */
export function isRoomName(room: string): boolean {
  return ROOM_NAME.test(room);
}

/** Longest user id, in characters (code points), that can receive direct messages. */
export const MAX_USER_CHARS = 256;

/**
 * Whether `user` can be the target of a direct message: 1 to 256 characters, well formed,
 * with no control characters (C0, DEL, C1).
 */
export function isUserId(user: string): boolean {
  if (user.length === 0 || !user.isWellFormed()) return false;
  let n = 0;
  for (const ch of user) {
    const c = ch.codePointAt(0) as number;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || ++n > MAX_USER_CHARS) return false;
  }
  return true;
}

/** The inbox room of `user`. */
export function inboxOf(user: string): string {
  return `${INBOX_PREFIX}${user}`;
}

/** Whether `room` is a client room, `$broadcast`, or the inbox of a valid user id. */
export function isKnownRoom(room: string): boolean {
  if (isRoomName(room) || room === BROADCAST_ROOM) return true;
  return room.startsWith(INBOX_PREFIX) && isUserId(room.slice(INBOX_PREFIX.length));
}

/** Whether `room` is a system room: a user inbox or `$broadcast`. */
export function isSystemRoom(room: string): boolean {
  return room === BROADCAST_ROOM || room.startsWith(INBOX_PREFIX);
}

/** The namespace of a room: the part before the first `:`, or "default". */
export function namespaceOf(room: string): string {
  const i = room.indexOf(":");
  return i > 0 ? room.slice(0, i) : "default";
}

/** Resolves namespace options, each namespace falling back to the default's options. */
export class Namespaces {
  readonly #defaults: NamespaceOptions;
  readonly #byName = new Map<string, NamespaceOptions>();

  constructor(config: Config["namespaces"]) {
    this.#defaults = config.default;
    for (const [name, patch] of Object.entries(config)) {
      this.#byName.set(name, { ...config.default, ...patch });
    }
  }

  /** Options of the namespace that `room` belongs to. System rooms use the default's. */
  of(room: string): NamespaceOptions {
    if (isSystemRoom(room)) return this.#defaults;
    return this.#byName.get(namespaceOf(room)) ?? this.#defaults;
  }

  /** Every namespace with options of its own, including "default". */
  entries(): [string, NamespaceOptions][] {
    return [...this.#byName.entries()];
  }
}
