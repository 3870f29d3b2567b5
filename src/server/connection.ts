import type { ServerWebSocket } from "bun";
import type { Message } from "../protocol/frames.ts";

/**
 * Per-connection state, kept in Bun's `ws.data`. Kept small: an idle connection costs only
 * this object and its topic subscriptions, so maps and the frame queue exist only while used.
 */
export interface Connection {
  /** Client id, `c_` and random characters, announced in `connected`. */
  id: string;
  /** The `?token=` of the upgrade, until it is verified. */
  urlToken?: string;
  /** Whether the connection authenticates from `?token=` (else from a `connect` frame). */
  fromUrl: boolean;
  state: "pending" | "open" | "closed";
  user: string;
  /** The token's `exp` in seconds, when it has one. */
  exp?: number;
  /** The token's `rooms` claim: which token-protected rooms the user may enter. */
  grants?: (room: string) => boolean;
  /** Rooms this connection is subscribed to, with their presence flag. */
  rooms?: Map<string, { presence: boolean }>;
  /** Live messages held for rooms whose subscribe is replaying history. */
  holds?: Map<string, Message[]>;
  /** The tail of this connection's frame queue while frames are being handled. */
  queue?: Promise<void>;
  /** Token bucket for the frame rate limit. */
  tokens: number;
  refilledAt: number;
  rateStrikes: number;
  badFrames: number;
  /** When the client last sent a frame (ms, performance.now()), for the idle timeout. */
  lastSeen: number;
  connectTimer?: Timer;
  /** The second the token expires at in the node's expiry wheel, while it is in one. */
  expiresAt?: number;
}

export type Socket = ServerWebSocket<Connection>;

/** Prefix of the Bun topic carrying join/leave frames for a room (`#` is not in room names). */
export const PRESENCE_TOPIC_SUFFIX = "#presence";

/** Bun topic for presence events of `room`. */
export function presenceTopic(room: string): string {
  return room + PRESENCE_TOPIC_SUFFIX;
}

const ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A new client id such as `c_8f2k0q1z3m`, built as one flat string (no rope of pieces). */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  const codes = [99, 95]; // "c_"
  for (const b of bytes) codes.push(ID_CHARS.charCodeAt(b % ID_CHARS.length));
  return String.fromCharCode(...codes);
}

/** Fresh state for a socket about to be upgraded. */
export function newConnection(urlToken: string | undefined, rate: number): Connection {
  const now = performance.now();
  // Every field is set here, so that all connections share one object shape with its fields
  // inline and none grows a separate property store later.
  return {
    id: newClientId(),
    urlToken,
    fromUrl: urlToken !== undefined,
    state: "pending",
    user: "",
    exp: undefined,
    grants: undefined,
    rooms: undefined,
    holds: undefined,
    queue: undefined,
    tokens: rate,
    refilledAt: now,
    rateStrikes: 0,
    badFrames: 0,
    lastSeen: now,
    connectTimer: undefined,
    expiresAt: undefined,
  };
}
