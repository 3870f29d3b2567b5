import type { ServerWebSocket } from "bun";
import type { Identity } from "../auth/jwt.ts";
import type { Message } from "../protocol/frames.ts";

/** Per-connection state, kept in Bun's `ws.data`. */
export interface Connection {
  /** Client id, `c_` and random characters, announced in `connected`. */
  id: string;
  /** Token from `?token=`, verified once the socket opens. */
  urlToken?: string;
  state: "pending" | "open" | "closed";
  user: string;
  identity?: Identity;
  /** Rooms this connection is subscribed to (or subscribing), with their presence flag. */
  rooms: Map<string, { presence: boolean }>;
  /** Live messages held for rooms whose subscribe is replaying history. */
  holds: Map<string, Message[]>;
  /** The tail of this connection's frame queue: frames are handled one after another. */
  queue: Promise<void>;
  /** Token bucket for the frame rate limit. */
  tokens: number;
  refilledAt: number;
  rateStrikes: number;
  badFrames: number;
  /** When the client last sent a frame (ms, performance.now()), for the idle timeout. */
  lastSeen: number;
  timers: { connect?: Timer; expiry?: Timer };
  remote: string;
}

export type Socket = ServerWebSocket<Connection>;

/** Prefix of the Bun topic carrying join/leave frames for a room (`#` is not in room names). */
export const PRESENCE_TOPIC_SUFFIX = "#presence";

/** The topic every connection is subscribed to for server pings. */
export const PING_TOPIC = "#ping";

/** Bun topic for presence events of `room`. */
export function presenceTopic(room: string): string {
  return room + PRESENCE_TOPIC_SUFFIX;
}

const ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A new client id such as `c_8f2k0q1z`. */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  let id = "c_";
  for (const b of bytes) id += ID_CHARS[b % ID_CHARS.length];
  return id;
}

/** Fresh state for a socket about to be upgraded. */
export function newConnection(
  remote: string,
  urlToken: string | undefined,
  rate: number,
): Connection {
  return {
    id: newClientId(),
    urlToken,
    state: "pending",
    user: "",
    rooms: new Map(),
    holds: new Map(),
    queue: Promise.resolve(),
    tokens: rate,
    refilledAt: performance.now(),
    rateStrikes: 0,
    badFrames: 0,
    lastSeen: performance.now(),
    timers: {},
    remote,
  };
}
