import type { Server } from "bun";
import type { Broker, PresenceEvent } from "../broker/types.ts";
import type { HistoryStore } from "../history/types.ts";
import type { MemoryWindow } from "../history/window.ts";
import type { Logger } from "../log.ts";
import type { Message, Position } from "../protocol/frames.ts";
import { messageFrame } from "../protocol/serialize.ts";
import { type Connection, presenceTopic } from "./connection.ts";
import type { Metrics } from "./metrics.ts";
import type { Registry } from "./registry.ts";

/**
 * Hands messages to local subscribers through Bun topics, in offset order per room, once
 * each. A message that follows a gap waits while the gap is filled from the broker's hot
 * history or the store. Connections replaying history for a room hold live messages until
 * their replay is sent.
 *
 * Order is kept per room from a known position: in a cluster this node's own publishes and
 * other nodes' messages arrive over different connections, so a room's messages can come out
 * of order, and only a known position tells a late message from a new one. A room gets its
 * position when its first local connection starts joining: until the joining connection has
 * read the room's position (`positioned`), the room's messages wait; from then on they are
 * handed out in order. Rooms no local connection is in are not tracked. The single-node
 * memory broker hands messages over in offset order by construction, so with it nothing is
 * tracked (`ordered: false`), which keeps an idle connection's inbox free of any entry here.
 */
export class Delivery {
  #server?: Server<Connection>;
  readonly #holds = new Map<string, Set<Connection>>();
  /** Rooms with local subscribers (or joining ones): the last position handed to them. */
  readonly #last = new Map<string, Position>();
  /** Rooms whose first local connection is joining: messages wait for the room's position. */
  readonly #pending = new Map<string, Message[]>();
  /** Rooms filling a gap, with the messages that arrived meanwhile. */
  readonly #filling = new Map<string, Message[]>();
  gapsFilled = 0;
  /** Length of every message frame published so far (a frame to n sockets counts once). */
  publishedBytes = 0;
  gapsLost = 0;
  /** Called when a publish met backpressure on some subscriber (the node sweeps for slow consumers). */
  onBackpressure: () => void = () => {};

  constructor(
    private readonly deps: {
      window: MemoryWindow;
      broker: Broker;
      store: HistoryStore;
      registry: Registry;
      metrics: Metrics;
      log: Logger;
      /** Whether messages can arrive out of order (a cluster broker). */
      ordered: boolean;
    },
  ) {}

  attach(server: Server<Connection>): void {
    this.#server = server;
  }

  /** Delivers a message assigned on any node, keeping per-room order. */
  deliver(message: Message): void {
    if (!this.deps.ordered) {
      this.#emit(message);
      return;
    }
    const waiting = this.#filling.get(message.room) ?? this.#pending.get(message.room);
    if (waiting) {
      waiting.push(message);
      return;
    }
    const last = this.#last.get(message.room);
    if (last && last.epoch === message.epoch) {
      if (message.offset <= last.offset) return;
      if (message.offset > last.offset + 1) {
        this.#fill(message.room, last.offset, message);
        return;
      }
    }
    this.#emit(message);
  }

  /**
   * A joining connection read `room`'s position. For a room not tracked yet, it becomes the
   * room's position, and the messages that waited for it are handed out in order after it.
   */
  positioned(room: string, latest: Position): void {
    const waited = this.#pending.get(room);
    if (!waited) return;
    this.#pending.delete(room);
    if (!this.#last.has(room)) this.#last.set(room, { offset: latest.offset, epoch: latest.epoch });
    for (const m of waited.sort((a, b) => a.offset - b.offset)) this.deliver(m);
  }

  /**
   * A connection joins `room`'s topic, told that the room is at `latest`. Returns the offset
   * its replay goes up to: `latest`, or less when this node has not yet handed out the
   * messages up to `latest` (they then reach the connection live, through the topic, so the
   * replay must not send them too).
   */
  joined(room: string, latest: Position): number {
    if (!this.deps.ordered) return latest.offset;
    const last = this.#last.get(room);
    if (last && last.epoch === latest.epoch) return Math.min(latest.offset, last.offset);
    this.#last.set(room, { offset: latest.offset, epoch: latest.epoch });
    return latest.offset;
  }

  /** Stops tracking a room once no local connection is in it or joining it. */
  left(room: string): void {
    if (this.deps.registry.hasRoom(room) || (this.#server?.subscriberCount(room) ?? 0) > 0) return;
    this.forget(room);
  }

  /** Stops tracking a room (an inbox whose user has no connection left on the node). */
  forget(room: string): void {
    if (this.#holds.has(room)) return;
    this.#last.delete(room);
    const waited = this.#pending.get(room);
    this.#pending.delete(room);
    for (const m of waited ?? []) this.#emit(m);
  }

  /** Starts holding live messages of `room` for a connection that is replaying history. */
  hold(room: string, conn: Connection): void {
    const track = this.deps.ordered;
    if (track && !this.#last.has(room) && !this.#pending.has(room) && !this.#filling.has(room)) {
      this.#pending.set(room, []);
    }
    conn.holds ??= new Map();
    conn.holds.set(room, []);
    let set = this.#holds.get(room);
    if (!set) {
      set = new Set();
      this.#holds.set(room, set);
    }
    set.add(conn);
  }

  /** Stops holding and returns what was held, in order. */
  release(room: string, conn: Connection): Message[] {
    const held = conn.holds?.get(room) ?? [];
    conn.holds?.delete(room);
    if (conn.holds?.size === 0) conn.holds = undefined;
    const set = this.#holds.get(room);
    set?.delete(conn);
    if (set?.size === 0) this.#holds.delete(room);
    return held;
  }

  /** Sends a join or leave to the room's presence subscribers, never to the user's own. */
  presence(event: PresenceEvent): void {
    const server = this.#server;
    if (!server) return;
    const topic = presenceTopic(event.room);
    const own = this.deps.registry
      .socketsOf(event.user)
      .filter((ws) => ws.data.rooms?.get(event.room)?.presence && ws.isSubscribed(topic));
    for (const ws of own) ws.unsubscribe(topic);
    const n = server.subscriberCount(topic);
    if (n > 0) {
      server.publish(topic, JSON.stringify(event));
      this.deps.metrics.framesOut += n;
    }
    for (const ws of own) ws.subscribe(topic);
  }

  /** Bytes of message frames the memory window holds. */
  get windowBytes(): number {
    return this.deps.window.bytes;
  }

  #emit(message: Message): void {
    const last = this.#last.get(message.room);
    if (last) {
      last.offset = message.offset;
      last.epoch = message.epoch;
    }
    const frame = messageFrame(message);
    this.publishedBytes += frame.length;
    this.deps.window.add(message, frame.length);
    const server = this.#server;
    if (server) {
      const n = server.subscriberCount(message.room);
      if (n > 0) {
        if (server.publish(message.room, frame) === -1) this.onBackpressure();
        this.deps.metrics.framesOut += n;
      }
    }
    const holders = this.#holds.get(message.room);
    if (holders) for (const conn of holders) conn.holds?.get(message.room)?.push(message);
  }

  #fill(room: string, after: number, next: Message): void {
    const waiting = [next];
    this.#filling.set(room, waiting);
    this.#missing(room, after, next.offset - 1)
      .then((found) => {
        const complete = found.length === next.offset - 1 - after && found[0]?.offset === after + 1;
        if (complete) this.gapsFilled++;
        else {
          this.gapsLost++;
          this.deps.log.warn("gap not filled", {
            room,
            after,
            next: next.offset,
            found: found.length,
          });
        }
        for (const m of found) this.#emit(m);
      })
      .catch((err: unknown) => {
        this.gapsLost++;
        this.deps.log.error("gap fill failed", { room, error: String(err) });
      })
      .finally(() => {
        this.#filling.delete(room);
        // What could not be found is given up: the room goes on from just before `next`,
        // instead of asking for the same missing offsets again with every message.
        const last = this.#last.get(room);
        if (last && last.epoch === next.epoch && last.offset < next.offset - 1) {
          last.offset = next.offset - 1;
        }
        for (const m of waiting.sort((a, b) => a.offset - b.offset)) this.deliver(m);
      });
  }

  async #missing(room: string, after: number, upto: number): Promise<Message[]> {
    const hot = await this.deps.broker.recent(room, after, upto - after);
    const fromHot = hot?.filter((m) => m.offset <= upto) ?? [];
    if (fromHot[0]?.offset === after + 1 && fromHot.length === upto - after) return fromHot;
    const stored = await this.deps.store.read(room, { since: after, limit: upto - after });
    return stored.filter((m) => m.offset <= upto);
  }
}
