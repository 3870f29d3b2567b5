import type { HistoryStore } from "../history/types.ts";
import type { Message, Position } from "../protocol/frames.ts";
import { pageOf } from "./page.ts";
import type {
  Broker,
  BrokerContext,
  NodeInfo,
  Page,
  PresenceEvent,
  PublishInput,
} from "./types.ts";

/** A publish waiting for its room's position or its room's dirty mark. */
interface Waiting {
  input: PublishInput;
  resolve: (m: Message) => void;
  reject: (err: unknown) => void;
}

/** A room's position, with when it was last loaded or published in (ms, performance.now()). */
type Held = Position & { at: number };

/** How long a room's position stays in memory after its last publish. */
const IDLE_MS = 10 * 60_000;
/** How often idle positions are dropped. */
const PRUNE_EVERY_MS = 60_000;

/**
 * The single-node broker: offsets come from a counter per room seeded from the history
 * store, and every cluster-wide question is answered from this node's own connections.
 */
export class MemoryBroker implements Broker {
  readonly kind = "memory" as const;
  #ctx?: BrokerContext;
  /**
   * Rooms published in lately, with their positions. A room idle for `idleMs` is dropped and
   * loaded again from the store on its next publish: the store's position counts the rows it
   * has queued as well as those written, and every assigned message is appended to it before
   * a timer (such as the pruning one) can run.
   */
  readonly #positions = new Map<string, Held>();
  readonly #loading = new Map<string, Promise<Held>>();
  readonly #queues = new Map<string, Waiting[]>();
  readonly #idleMs: number;
  readonly #pruneEveryMs: number;
  #pruning: Timer | undefined;

  constructor(opts: { idleMs?: number; pruneEveryMs?: number } = {}) {
    this.#idleMs = opts.idleMs ?? IDLE_MS;
    this.#pruneEveryMs = opts.pruneEveryMs ?? PRUNE_EVERY_MS;
  }

  /** Rooms whose position is held in memory. */
  get tracked(): number {
    return this.#positions.size;
  }

  async start(ctx: BrokerContext): Promise<void> {
    this.#ctx = ctx;
    this.#pruning = setInterval(() => this.#prune(), this.#pruneEveryMs);
    this.#pruning.unref?.();
  }

  async close(): Promise<void> {
    clearInterval(this.#pruning);
    this.#pruning = undefined;
  }

  #prune(): void {
    const before = performance.now() - this.#idleMs;
    for (const [room, pos] of this.#positions) {
      if (pos.at < before && !this.#queues.has(room) && !this.#loading.has(room)) {
        this.#positions.delete(room);
      }
    }
  }

  up(): boolean {
    return true;
  }

  /**
   * Assigns the next offset. Publishes that must wait (the room's position is loading, or
   * the store is recording that the room has unwritten offsets) queue per room and are
   * resolved in offset order, so the node delivers them in that order too.
   */
  publish(input: PublishInput): Promise<Message> {
    const known = this.#positions.get(input.room);
    if (known && !this.#queues.has(input.room) && !this.#store().reserve(input.room)) {
      return Promise.resolve(this.#assign(known, input));
    }
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(input.room);
      if (!queue) {
        queue = [];
        this.#queues.set(input.room, queue);
        void this.#pump(input.room, queue);
      }
      queue.push({ input, resolve, reject });
    });
  }

  async #pump(room: string, queue: Waiting[]): Promise<void> {
    try {
      const pos = this.#positions.get(room) ?? (await this.#load(room));
      for (;;) {
        const reserving = this.#store().reserve(room);
        if (reserving) await reserving;
        const batch = queue.splice(0);
        if (batch.length === 0) break;
        for (const w of batch) w.resolve(this.#assign(pos, w.input));
      }
    } catch (err) {
      for (const w of queue.splice(0)) w.reject(err);
    } finally {
      this.#queues.delete(room);
    }
  }

  position(room: string): Promise<Position> {
    const known = this.#positions.get(room);
    if (known) return Promise.resolve({ offset: known.offset, epoch: known.epoch });
    // Not cached: a room is remembered once something is published in it, so reading the
    // empty inbox of every connecting user costs no memory.
    return this.#store().room(room);
  }

  /** The node's memory window is this broker's only hot history. */
  async recent(): Promise<Message[] | undefined> {
    return undefined;
  }

  async join(room: string, user: string): Promise<void> {
    this.#presence({ type: "join", room, user });
  }

  async leave(room: string, user: string): Promise<void> {
    this.#presence({ type: "leave", room, user });
  }

  async presence(room: string): Promise<string[]> {
    return this.#context().local.presence(room).sort();
  }

  async users(
    limit: number,
    cursor?: string,
  ): Promise<Page<{ user: string; connections: number }>> {
    const entries = [...this.#context().local.users().entries()];
    return pageOf(entries, limit, cursor, (user, connections) => ({ user, connections }));
  }

  async user(user: string): Promise<{ user: string; online: boolean; connections: number }> {
    const connections = this.#context().local.users().get(user) ?? 0;
    return { user, online: connections > 0, connections };
  }

  async rooms(
    limit: number,
    cursor?: string,
  ): Promise<Page<{ room: string; subscribers: number }>> {
    const entries = [...this.#context().local.rooms().entries()];
    return pageOf(entries, limit, cursor, (room, subscribers) => ({ room, subscribers }));
  }

  async nodes(): Promise<NodeInfo[]> {
    const ctx = this.#context();
    return [
      {
        node: ctx.node,
        region: ctx.region,
        connections: ctx.local.connections(),
        startedAt: ctx.startedAt,
      },
    ];
  }

  async disconnect(user: string, code: number, reason: string): Promise<number> {
    return this.#context().local.disconnect(user, code, reason);
  }

  #assign(pos: Held, input: PublishInput): Message {
    pos.offset += 1;
    pos.at = performance.now();
    const message: Message = {
      room: input.room,
      offset: pos.offset,
      epoch: pos.epoch,
      data: input.data,
      ts: Date.now(),
    };
    if (input.from !== undefined) message.from = input.from;
    return message;
  }

  #load(room: string): Promise<Held> {
    let loading = this.#loading.get(room);
    if (!loading) {
      loading = this.#store()
        .room(room)
        .then((stored) => {
          const pos = this.#positions.get(room) ?? {
            offset: stored.offset,
            epoch: stored.epoch,
            at: performance.now(),
          };
          this.#positions.set(room, pos);
          this.#loading.delete(room);
          return pos;
        });
      loading.catch(() => this.#loading.delete(room));
      this.#loading.set(room, loading);
    }
    return loading;
  }

  #presence(event: PresenceEvent): void {
    this.#context().sink.presence(event);
  }

  #store(): HistoryStore {
    return this.#context().store;
  }

  #context(): BrokerContext {
    if (!this.#ctx) throw new Error("memory broker used before start()");
    return this.#ctx;
  }
}
