/**
 * Public types of the edgepush client SDK: options, events, and the server frames it reads.
 */
import type {
  ConnectedFrame,
  ErrorFrame,
  Message,
  MessageFrame,
  Position,
} from "../protocol/frames.ts";

export type { Message, Position };

/** A function type whose parameter is checked bivariantly, so DOM and `ws` sockets both fit. */
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of the WebSocket API the client uses: the browser's, Bun's, Node's or `ws`'s. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

/** A WebSocket constructor, for runtimes without a global `WebSocket`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Backoff between reconnect attempts: full jitter over an exponential window with a cap. */
export interface BackoffOptions {
  /** Window of the first attempt in ms (default 500). */
  baseMs?: number;
  /** Largest window in ms (default 30000). */
  maxMs?: number;
}

/** Options of {@link EdgepushClient}. */
export interface ClientOptions {
  /** WebSocket endpoint, e.g. `wss://push.example.com/v1/ws`. */
  url: string;
  /** A fixed token. Without `getToken` it cannot be refreshed: its expiry ends the session. */
  token?: string;
  /** Called for a token before connecting, before the current one expires, and after 4004. */
  getToken?: () => string | Promise<string>;
  /** WebSocket constructor where there is no global one (Node before 22: pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** How long a request waits for a connection and its reply, in ms (default 10000). */
  requestTimeoutMs?: number;
  /** How long opening a socket and receiving `connected` may take, in ms (default 10000). */
  connectTimeoutMs?: number;
  /** Reconnect backoff. */
  backoff?: BackoffOptions;
  /**
   * Read the broadcasts sent while disconnected with `history` on every reconnection, and the
   * starting position on the first connection (default true). `false`: live broadcasts only,
   * deduplicated, with no extra request.
   */
  recoverBroadcasts?: boolean;
  /**
   * Most frames the client sends a second (default 90). Frames over it wait their turn. Keep
   * it at or below the server's `limits.framesPerSecond` (100 by default), which answers
   * frames over its rate with `rate_limited` and then closes with 4029.
   */
  maxFramesPerSecond?: number;
}

/**
 * Where the connection is:
 * - `idle`: `connect()` not called yet;
 * - `connecting`: the first connection is being opened;
 * - `connected`: `connected` received, requests flow;
 * - `reconnecting`: the connection dropped and another attempt is scheduled or under way;
 * - `disconnected`: stopped by `close()` or by a close code that forbids reconnecting.
 */
export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "disconnected";

/** A change of connection state. */
export interface StateChange {
  state: ConnectionState;
  /** Close code that caused the change (absent when the client itself changed state). */
  code?: number;
  reason?: string;
  /** For `reconnecting`: the delay before the next attempt, in ms. */
  delayMs?: number;
  /** For `reconnecting`: the number of attempts since the last successful connection. */
  attempt?: number;
}

/** What the server said when the connection was accepted. */
export interface ConnectedInfo {
  client: string;
  user: string;
  node: string;
  region: string;
  /** Seconds between server pings. */
  ping: number;
  /**
   * For a reconnection that asked for the inbox messages missed meanwhile: whether all of
   * them were replayed. `false` means some are gone: read the inbox with `history`.
   */
  inboxRecovered?: boolean;
}

/** A presence change in a room subscribed with `presence: true`. */
export interface PresenceChange {
  room: string;
  user: string;
}

/**
 * The outcome of resuming a room from the last offset the client saw: a subscription's
 * `recovery` event, or the client's `broadcastRecovery` (with `room` `$broadcast`).
 */
export interface RecoveryInfo {
  room: string;
  /**
   * `true`: the messages missed follow, once each, in order. `false`: they cannot be
   * replayed (history trimmed, or the server lost the sequence); reload with `history`.
   */
  recovered: boolean;
  /** The position the client asked to resume from. */
  since: Position;
  /**
   * The room's latest position when it was resubscribed; for broadcasts, the last position
   * recovered (or, after `recovered: false`, the newest in history).
   */
  latest: Position;
}

/** The server's acknowledgement of a `publish` or `send`. */
export interface Ack {
  room: string;
  offset: number;
  epoch: string;
}

/** One page of a room's history, oldest first. */
export interface HistoryPage {
  room: string;
  epoch: string;
  messages: Message[];
}

/** Which part of a room's history to read: after an offset, before one, or the latest. */
export interface HistoryQuery {
  /** Messages with offsets above this one. */
  since?: number;
  /** The `limit` messages just below this offset. */
  before?: number;
  /** At most this many messages (server default 50, capped at 1000). */
  limit?: number;
}

/** Options of `subscribe`. */
export interface SubscribeOptions {
  /** Receive `join` and `leave` events. */
  presence?: boolean;
  /** Resume from a position the application kept (e.g. across page loads). */
  since?: Position;
}

/** Where a subscription is: waiting for the server, active, or ended. */
export type SubscriptionState = "subscribing" | "subscribed" | "unsubscribed";

export interface SubscribedFrame {
  type: "subscribed";
  id?: number;
  room: string;
  offset: number;
  epoch: string;
  recovered?: boolean;
}
export interface UnsubscribedFrame {
  type: "unsubscribed";
  id?: number;
  room: string;
}
export interface AckFrame extends Ack {
  type: "ack";
  id?: number;
}
export interface PresenceReplyFrame {
  type: "presence";
  id?: number;
  room: string;
  users: string[];
}
export interface HistoryReplyFrame extends HistoryPage {
  type: "history";
  id?: number;
}
export interface RefreshedFrame {
  type: "refreshed";
  id?: number;
  exp?: number;
}
export interface PresenceEventFrame extends PresenceChange {
  type: "join" | "leave";
}
export interface PingServerFrame {
  type: "ping" | "pong";
  id?: number;
}

/** Every frame the server sends. */
export type ServerFrame =
  | ConnectedFrame
  | ErrorFrame
  | MessageFrame
  | SubscribedFrame
  | UnsubscribedFrame
  | AckFrame
  | PresenceReplyFrame
  | HistoryReplyFrame
  | RefreshedFrame
  | PresenceEventFrame
  | PingServerFrame;
