import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import type { ConnectedFrame, MessageFrame } from "../protocol/frames.ts";
import { closeAction, reconnectDelay } from "./backoff.ts";
import { BROADCAST_ROOM, BroadcastFeed } from "./broadcasts.ts";
import { Cursor } from "./cursor.ts";
import { Emitter } from "./emitter.ts";
import { TokenKeeper, tokenError } from "./keeper.ts";
import { Pacer } from "./pacer.ts";
import { type LostPolicy, type Outgoing, Requests, unavailable } from "./requests.ts";
import { Subscription } from "./subscription.ts";
import type {
  Ack,
  ClientOptions,
  ConnectedInfo,
  ConnectionState,
  HistoryPage,
  HistoryQuery,
  Message,
  Position,
  RecoveryInfo,
  ServerFrame,
  StateChange,
  SubscribeOptions,
  WebSocketConstructor,
  WebSocketLike,
} from "./types.ts";

/** Events of an {@link EdgepushClient}. */
export interface ClientEvents {
  /** The connection state changed (with the close code that caused it, if any). */
  state: StateChange;
  /** A connection was accepted (the first one and every reconnection). */
  connected: ConnectedInfo;
  /** A direct message to this user, once each, in order, recovered across reconnects. */
  inbox: Message;
  /**
   * A message to every connection (`$broadcast`), once each, in order; those sent while the
   * client was disconnected are read with `history` on reconnecting (`recoverBroadcasts`).
   */
  broadcast: Message;
  /**
   * After each reconnection (and after a live broadcast that skipped offsets): whether the
   * broadcasts missed were all emitted, before this event (`recovered: true`), or some are
   * gone from history (`recovered: false`: reload with `history("$broadcast")`).
   */
  broadcastRecovery: RecoveryInfo;
  /** An error not tied to a request: an `error` frame without id, a failed token refresh. */
  error: EdgepushError;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Silence after the announced ping interval before the connection counts as dead. */
const PING_GRACE_MS = 10_000;
/** Wait before resending a subscribe that the server rate-limited. */
const RATE_LIMIT_RETRY_MS = 1_000;
/** Frames a second the client sends at most, by default: under the server's default of 100. */
const DEFAULT_FRAMES_PER_SECOND = 90;
/** How long a connection must last before the reconnect backoff starts again from zero. */
const STABLE_MS = 10_000;

type Timers = "reconnect" | "handshake" | "dead" | "stable";

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}

function messageOf(frame: MessageFrame): Message {
  const { type: _type, ...message } = frame;
  return message;
}

/**
 * An edgepush connection that stays up: it reconnects with backoff, resubscribes every room
 * from the last offset it delivered, recovers the inbox and the broadcasts, drops duplicates,
 * and refreshes its token before it expires.
 *
 * @example
 * const client = new EdgepushClient({ url: "wss://push.example.com/v1/ws", getToken });
 * client.on("state", (s) => console.log(s.state, s.code));
 * const room = client.subscribe("chat:lobby", { presence: true });
 * room.on("message", (m) => render(m));
 * await client.connect();
 * await client.publish("chat:lobby", { text: "hi" });
 */
export class EdgepushClient extends Emitter<ClientEvents> {
  readonly #opts: ClientOptions;
  readonly #WebSocket: WebSocketConstructor;
  readonly #requests: Requests;
  readonly #subs = new Map<string, Subscription>();
  readonly #inbox = new Cursor();
  readonly #broadcasts: BroadcastFeed;
  readonly #timers = new Map<Timers, ReturnType<typeof setTimeout>>();
  #state: ConnectionState = "idle";
  #ws: WebSocketLike | null = null;
  #info: ConnectedInfo | undefined;
  readonly #tokens: TokenKeeper;
  #attempt = 0;
  /** Spaces this connection's frames (a new one for every connection). */
  #pacer: Pacer | null = null;
  #askedInbox = false;
  /** Bumped by every open and stop, so an open that outlived its turn does nothing. */
  #generation = 0;
  #waiters: { resolve: (info: ConnectedInfo) => void; reject: (err: EdgepushError) => void }[] = [];

  constructor(opts: ClientOptions) {
    super();
    const ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!ctor) throw new Error("no global WebSocket here: pass a constructor as `WebSocket`");
    this.#opts = opts;
    this.#WebSocket = ctor;
    this.#tokens = new TokenKeeper(opts.token, opts.getToken, {
      refresh: (token) => this.#sendRefresh(token),
      error: (err) => this.emit("error", err),
    });
    this.#requests = new Requests(opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#broadcasts = new BroadcastFeed(opts.recoverBroadcasts !== false, {
      read: (query) => this.#readBroadcasts(query),
      deliver: (message) => this.emit("broadcast", message),
      recovery: (info) => this.emit("broadcastRecovery", info),
      error: (err) => this.emit("error", err),
      unhealthy: (reason) => {
        if (this.#ws) this.#abandon(this.#ws, reason);
      },
    });
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** What the server said on the current (or last) connection. */
  get info(): ConnectedInfo | undefined {
    return this.#info;
  }

  /**
   * Where broadcasts resume from after a reconnect: the last one emitted, or the position
   * read on the first connection; undefined until one of them is known.
   */
  get broadcastPosition(): Position | undefined {
    return this.#broadcasts.position;
  }

  /** The rooms subscribed, by name. */
  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.#subs;
  }

  /**
   * Opens the connection (and keeps it open). Resolves on the next `connected`; rejects if
   * the client stops first (close code 4001, 4003, or `close()`).
   */
  connect(): Promise<ConnectedInfo> {
    if (this.#state === "connected" && this.#info) return Promise.resolve(this.#info);
    const ready = new Promise<ConnectedInfo>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
    if (this.#state === "idle" || this.#state === "disconnected") {
      this.#setState({ state: "connecting" });
      void this.#open();
    }
    return ready;
  }

  /** Closes the connection with 1000 and stops reconnecting. Subscriptions are kept. */
  close(): void {
    const ws = this.#ws;
    if (ws) {
      detach(ws);
      ws.close(1000);
    }
    this.#ws = null;
    this.#requests.failAll(unavailable("the client was closed"));
    this.#offline();
    if (this.#state !== "disconnected") this.#stop(1000, "closed by the client");
  }

  /**
   * Subscribes to `room` (now if connected, else on connecting) and returns its
   * subscription; subscribing to a room already subscribed returns the same one.
   */
  subscribe(room: string, opts: SubscribeOptions = {}): Subscription {
    const existing = this.#subs.get(room);
    if (existing) return existing;
    const sub = new Subscription(room, opts.presence === true, this, opts.since);
    this.#subs.set(room, sub);
    if (this.#state === "connected") this.#sendSubscribe(sub);
    return sub;
  }

  /** Leaves `room`. Resolves once the server confirms, at once while disconnected. */
  unsubscribe(room: string): Promise<void> {
    const sub = this.#subs.get(room);
    if (!sub) return Promise.resolve();
    this.#subs.delete(room);
    sub.ended();
    if (this.#state !== "connected") return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#requests.request({ type: "unsubscribe", room }, "drop", {
        reply: () => resolve(),
        error: (err) => {
          const gone = err.code === ErrorCode.unavailable || err.code === ErrorCode.notSubscribed;
          if (gone) resolve();
          else reject(err);
        },
      });
    });
  }

  /** Publishes `data` to `room`; resolves with the offset it got. */
  async publish(room: string, data: unknown): Promise<Ack> {
    const reply = await this.#ask({ type: "publish", room, data }, "fail", "ack");
    return { room: reply.room, offset: reply.offset, epoch: reply.epoch };
  }

  /** Sends `data` to every connection of `user`; resolves with its offset in their inbox. */
  async send(user: string, data: unknown): Promise<Ack> {
    const reply = await this.#ask({ type: "send", to: user, data }, "fail", "ack");
    return { room: reply.room, offset: reply.offset, epoch: reply.epoch };
  }

  /** The users present in `room`. */
  async presence(room: string): Promise<string[]> {
    return (await this.#ask({ type: "presence", room }, "retry", "presence")).users;
  }

  /** A page of `room`'s history, oldest first (the latest messages without a query). */
  async history(room: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    const reply = await this.#ask({ type: "history", room, ...query }, "retry", "history");
    return { room: reply.room, epoch: reply.epoch, messages: reply.messages };
  }

  /** Reads `$broadcast` on the current connection only: a lost read is not sent again. */
  #readBroadcasts(query: HistoryQuery): Promise<HistoryPage> {
    return new Promise((resolve, reject) => {
      this.#requests.request({ type: "history", room: BROADCAST_ROOM, ...query }, "drop", {
        reply: (r) => {
          if (r.type === "history") resolve({ room: r.room, epoch: r.epoch, messages: r.messages });
          else reject(new EdgepushError(ErrorCode.internal, `expected history, got ${r.type}`));
        },
        error: reject,
      });
    });
  }

  /** Sends a request and resolves with its reply of type `type`. */
  #ask<T extends ServerFrame["type"]>(
    frame: Outgoing,
    policy: LostPolicy,
    type: T,
  ): Promise<Extract<ServerFrame, { type: T }>> {
    if (this.#state === "idle" || this.#state === "disconnected") {
      return Promise.reject(unavailable(`not connected (${this.#state}): call connect() first`));
    }
    return new Promise((resolve, reject) => {
      this.#requests.request(frame, policy, {
        reply: (r) => {
          if (r.type === type) resolve(r as Extract<ServerFrame, { type: T }>);
          else reject(new EdgepushError(ErrorCode.internal, `expected ${type}, got ${r.type}`));
        },
        error: reject,
      });
    });
  }

  #sendSubscribe(sub: Subscription): void {
    const frame = sub.subscribeFrame();
    const ws = this.#ws;
    this.#requests.request(frame, "drop", {
      reply: (reply) => {
        if (this.#subs.get(sub.room) === sub && reply.type === "subscribed") {
          sub.confirmed(reply, frame.since);
        }
      },
      error: (err) => {
        if (this.#subs.get(sub.room) !== sub) return;
        if (err.code === ErrorCode.unavailable) {
          // Lost with the connection, the next one resubscribes; unanswered on a live one,
          // the connection is not healthy: replace it.
          if (ws && this.#ws === ws) this.#abandon(ws, `no reply to subscribe ${sub.room}`);
          return;
        }
        if (err.code === ErrorCode.rateLimited) {
          // Only on the connection that refused it: a new connection resubscribes anyway.
          setTimeout(() => {
            if (ws && this.#ws === ws) this.#resubscribeIfCurrent(sub);
          }, RATE_LIMIT_RETRY_MS);
          return;
        }
        this.#subs.delete(sub.room);
        sub.refused(err);
      },
    });
  }

  #resubscribeIfCurrent(sub: Subscription): void {
    if (this.#subs.get(sub.room) === sub && this.#state === "connected") this.#sendSubscribe(sub);
  }

  async #open(): Promise<void> {
    const generation = ++this.#generation;
    let token: string | undefined;
    try {
      token = await this.#tokens.current();
    } catch (err) {
      if (generation !== this.#generation) return;
      this.emit("error", tokenError(err));
      this.#retry(1006, "could not get a token");
      return;
    }
    if (generation !== this.#generation) return;
    let ws: WebSocketLike;
    try {
      ws = new this.#WebSocket(this.#opts.url);
    } catch (err) {
      // An unusable URL will not get better by retrying.
      this.emit(
        "error",
        new EdgepushError(ErrorCode.badRequest, `cannot open ${this.#opts.url}: ${err}`),
      );
      this.#stop(1006, "cannot open the WebSocket");
      return;
    }
    this.#ws = ws;
    const timeoutMs = this.#opts.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#setTimer("handshake", timeoutMs, () => this.#abandon(ws, "no connected frame in time"));
    const inbox = this.#inbox.position;
    this.#askedInbox = inbox !== undefined;
    ws.onopen = () => {
      ws.send(
        JSON.stringify({
          type: "connect",
          ...(token ? { token } : {}),
          ...(inbox ? { inbox } : {}),
        }),
      );
    };
    ws.onmessage = (event) => {
      if (this.#ws === ws) this.#onFrame(event.data);
    };
    ws.onclose = (event) => {
      if (this.#ws === ws) this.#lost(event.code, event.reason);
    };
    ws.onerror = () => {
      // A close event follows with the code; nothing to do here.
    };
  }

  #onFrame(data: unknown): void {
    if (typeof data !== "string") return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      this.emit("error", new EdgepushError(ErrorCode.badRequest, "server sent invalid JSON"));
      return;
    }
    this.#armDeadTimer();
    if (this.#requests.settle(frame)) return;
    switch (frame.type) {
      case "connected":
        this.#onConnected(frame);
        break;
      case "message":
        this.#onMessage(frame);
        break;
      case "join":
      case "leave":
        this.#subs.get(frame.room)?.presenceChanged(frame.type, {
          room: frame.room,
          user: frame.user,
        });
        break;
      case "ping":
        this.#pacer?.push(JSON.stringify({ type: "pong" }));
        break;
      case "unsubscribed": {
        // Without id: the server ended the subscription (a refreshed token no longer grants
        // the room). It is not resubscribed.
        const sub = this.#subs.get(frame.room);
        if (!sub) break;
        this.#subs.delete(frame.room);
        sub.refused(
          new EdgepushError(ErrorCode.forbidden, `the token no longer grants "${frame.room}"`),
        );
        break;
      }
      case "error":
        this.emit("error", new EdgepushError(frame.code as ErrorCode, frame.message));
        break;
    }
  }

  #onConnected(frame: ConnectedFrame): void {
    this.#clearTimer("handshake");
    const inboxRecovered = this.#askedInbox ? frame.recovered === true : undefined;
    if (inboxRecovered !== true) this.#inbox.reset(frame.inbox);
    const { client, user, node, region, ping } = frame;
    this.#info = { client, user, node, region, ping };
    if (inboxRecovered !== undefined) this.#info.inboxRecovered = inboxRecovered;
    // The backoff starts again only once a connection proved stable: a server that accepts
    // and then closes at once (4029, 1013) meets a growing wait, not the first one each time.
    this.#setTimer("stable", STABLE_MS, () => {
      this.#attempt = 0;
    });
    this.#armDeadTimer();
    this.#tokens.start();
    const ws = this.#ws;
    const pacer = new Pacer(this.#opts.maxFramesPerSecond ?? DEFAULT_FRAMES_PER_SECOND, (text) =>
      ws?.send(text),
    );
    this.#pacer = pacer;
    this.#requests.online((text) => pacer.push(text));
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
    this.#broadcasts.connected();
    this.#setState({ state: "connected" });
    this.emit("connected", this.#info);
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(this.#info);
  }

  #onMessage(frame: MessageFrame): void {
    const message = messageOf(frame);
    if (message.room === BROADCAST_ROOM) {
      this.#broadcasts.received(message);
    } else if (message.room.startsWith("@")) {
      if (this.#inbox.accept(message)) this.emit("inbox", message);
    } else {
      this.#subs.get(message.room)?.deliver(message);
    }
  }

  #armDeadTimer(): void {
    const ws = this.#ws;
    if (!this.#info || !ws || this.#state !== "connected" || this.#info.ping <= 0) return;
    const ms = this.#info.ping * 1000 + PING_GRACE_MS;
    this.#setTimer("dead", ms, () => this.#abandon(ws, `no frame from the server for ${ms} ms`));
  }

  /** Gives up on a socket that went silent: drops it without waiting for its close. */
  #abandon(ws: WebSocketLike, reason: string): void {
    if (this.#ws !== ws) return;
    detach(ws);
    try {
      ws.close(4000, reason.slice(0, 100));
    } catch {
      // The socket may not be open yet; dropping it is enough.
    }
    this.#lost(1006, reason);
  }

  #offline(): void {
    for (const name of ["handshake", "dead", "reconnect", "stable"] as const) {
      this.#clearTimer(name);
    }
    this.#pacer?.stop();
    this.#pacer = null;
    this.#tokens.stop();
    this.#requests.offline();
    this.#broadcasts.offline();
    for (const sub of this.#subs.values()) sub.suspended();
  }

  #lost(code: number, reason: string): void {
    this.#ws = null;
    this.#offline();
    if (this.#state === "disconnected") return;
    const action = closeAction(code);
    if (action === "stop" || (action === "refresh" && !this.#tokens.renewable)) {
      this.#stop(code, reason);
      return;
    }
    if (action === "refresh") this.#tokens.expired();
    this.#retry(code, reason);
  }

  #retry(code: number, reason: string): void {
    const delayMs = reconnectDelay(code, this.#attempt, this.#opts.backoff);
    this.#attempt++;
    this.#setState({ state: "reconnecting", code, reason, delayMs, attempt: this.#attempt });
    this.#setTimer("reconnect", delayMs, () => void this.#open());
  }

  #stop(code: number, reason: string): void {
    this.#generation++;
    if (code === 4001) this.#tokens.rejected();
    this.#setState({ state: "disconnected", code, reason });
    const err =
      code === 4001
        ? new EdgepushError(ErrorCode.unauthorized, `rejected: ${reason || "unauthorized"}`)
        : code === 4003
          ? new EdgepushError(ErrorCode.forbidden, `disconnected by the server: ${reason}`)
          : unavailable(`disconnected (${code}${reason ? `: ${reason}` : ""})`);
    this.#requests.failAll(err);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(err);
  }

  #sendRefresh(token: string): Promise<number | undefined> {
    if (this.#state !== "connected") return Promise.reject(unavailable("not connected"));
    return new Promise((resolve, reject) => {
      this.#requests.request({ type: "refresh", token }, "drop", {
        reply: (reply) => resolve(reply.type === "refreshed" ? reply.exp : undefined),
        error: reject,
      });
    });
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.emit("state", change);
  }

  #setTimer(name: Timers, ms: number, fn: () => void): void {
    this.#clearTimer(name);
    this.#timers.set(
      name,
      setTimeout(() => {
        this.#timers.delete(name);
        fn();
      }, ms),
    );
  }

  #clearTimer(name: Timers): void {
    const timer = this.#timers.get(name);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(name);
  }
}
