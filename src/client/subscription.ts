import type { EdgepushError } from "../protocol/codes.ts";
import { Cursor } from "./cursor.ts";
import { Emitter } from "./emitter.ts";
import type {
  Message,
  Position,
  PresenceChange,
  RecoveryInfo,
  SubscribedFrame,
  SubscriptionState,
} from "./types.ts";

/** Events of a {@link Subscription}. */
export interface SubscriptionEvents {
  /** A message in the room, in offset order, once each. */
  message: Message;
  /** A user's first connection joined the room (subscriptions with `presence: true`). */
  join: PresenceChange;
  /** A user's last connection left the room (subscriptions with `presence: true`). */
  leave: PresenceChange;
  /** The subscription changed state. */
  state: SubscriptionState;
  /** The room was resubscribed from the last offset seen; check `recovered`. */
  recovery: RecoveryInfo;
  /** The server refused the subscription; it is now `unsubscribed`. */
  error: EdgepushError;
}

/** The part of the client a subscription calls back into. */
export interface SubscriptionOwner {
  unsubscribe(room: string): Promise<void>;
}

/**
 * One room the client is subscribed to. It stays subscribed across reconnects: each new
 * connection resubscribes it from the last offset it delivered.
 *
 * @example
 * const sub = client.subscribe("chat:lobby", { presence: true });
 * sub.on("message", (m) => console.log(m.from, m.data));
 * sub.on("recovery", (r) => { if (!r.recovered) reload(); });
 * await sub.ready;
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  /** Resolves when the server first confirms the subscription; rejects if it refuses it. */
  readonly ready: Promise<void>;
  readonly #cursor: Cursor;
  #state: SubscriptionState = "subscribing";
  #settle: { resolve: () => void; reject: (err: EdgepushError) => void } | undefined;

  constructor(
    readonly room: string,
    readonly presence: boolean,
    private readonly owner: SubscriptionOwner,
    since?: Position,
  ) {
    super();
    this.#cursor = new Cursor(since);
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Awaiting `ready` is optional: a refusal is also an `error` event.
    this.ready.catch(() => {});
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /** The last position delivered (or confirmed by the server), to resume from. */
  get position(): Position | undefined {
    return this.#cursor.position;
  }

  /** Leaves the room. Resolves once the server confirms (at once while disconnected). */
  unsubscribe(): Promise<void> {
    return this.owner.unsubscribe(this.room);
  }

  /** @internal The subscribe frame for a new connection. */
  subscribeFrame(): { type: "subscribe"; room: string; since?: Position; presence?: boolean } {
    const since = this.#cursor.position;
    return {
      type: "subscribe",
      room: this.room,
      ...(since ? { since } : {}),
      ...(this.presence ? { presence: true } : {}),
    };
  }

  /** @internal The server confirmed the subscribe sent with `since` (if any). */
  confirmed(reply: SubscribedFrame, since: Position | undefined): void {
    const latest = { offset: reply.offset, epoch: reply.epoch };
    const recovered = since !== undefined && reply.recovered === true;
    if (!recovered) this.#cursor.reset(latest);
    this.#setState("subscribed");
    this.#settle?.resolve();
    this.#settle = undefined;
    if (since) this.emit("recovery", { room: this.room, recovered, since, latest });
  }

  /** @internal The server refused the subscription. */
  refused(err: EdgepushError): void {
    this.#setState("unsubscribed");
    this.#settle?.reject(err);
    this.#settle = undefined;
    this.emit("error", err);
  }

  /** @internal The connection dropped; the next one resubscribes. */
  suspended(): void {
    if (this.#state === "subscribed") this.#setState("subscribing");
  }

  /** @internal Unsubscribed by the application or because the client stopped for good. */
  ended(): void {
    this.#setState("unsubscribed");
  }

  /** @internal Delivers a message unless it was delivered already. */
  deliver(message: Message): void {
    if (this.#state !== "subscribed") return;
    if (this.#cursor.accept(message)) this.emit("message", message);
  }

  /** @internal Delivers a join or leave. */
  presenceChanged(kind: "join" | "leave", change: PresenceChange): void {
    if (this.#state === "subscribed") this.emit(kind, change);
  }

  #setState(state: SubscriptionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit("state", state);
  }
}
