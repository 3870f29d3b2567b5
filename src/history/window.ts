import type { Message } from "../protocol/frames.ts";

interface Ring {
  epoch: string;
  messages: Message[];
  capacity: number;
}

/**
 * The newest messages of each room, kept in memory so recovery after a short disconnect
 * never touches the store. Each room's ring holds a contiguous run of offsets; the rooms
 * least recently written are forgotten past `maxRooms`.
 */
export class MemoryWindow {
  readonly #rings = new Map<string, Ring>();
  readonly #maxRooms: number;
  readonly #capacityOf: (room: string) => number;

  constructor(opts: { maxRooms: number; capacityOf: (room: string) => number }) {
    this.#maxRooms = opts.maxRooms;
    this.#capacityOf = opts.capacityOf;
  }

  /** The last offset held for `room` in `epoch`, if the room is held. */
  last(room: string): { offset: number; epoch: string } | undefined {
    const ring = this.#rings.get(room);
    const tail = ring?.messages[ring.messages.length - 1];
    return ring && tail ? { offset: tail.offset, epoch: ring.epoch } : undefined;
  }

  /** Adds a message; a message that does not follow the ring's last starts the ring anew. */
  add(message: Message): void {
    let ring = this.#rings.get(message.room);
    if (ring) {
      this.#rings.delete(message.room);
      const tail = ring.messages[ring.messages.length - 1];
      if (ring.epoch !== message.epoch || !tail || tail.offset + 1 !== message.offset) {
        ring.messages = [];
        ring.epoch = message.epoch;
      }
    } else {
      ring = { epoch: message.epoch, messages: [], capacity: this.#capacityOf(message.room) };
      if (this.#rings.size >= this.#maxRooms) {
        const oldest = this.#rings.keys().next().value;
        if (oldest !== undefined) this.#rings.delete(oldest);
      }
    }
    this.#rings.set(message.room, ring);
    if (ring.capacity === 0) return;
    ring.messages.push(message);
    if (ring.messages.length > ring.capacity * 2) {
      ring.messages = ring.messages.slice(-ring.capacity);
    }
  }

  /**
   * Messages with offsets in (after, upto] when the ring holds every one of them, else
   * undefined.
   */
  range(room: string, epoch: string, after: number, upto: number): Message[] | undefined {
    const ring = this.#rings.get(room);
    if (!ring || ring.epoch !== epoch) return undefined;
    if (upto <= after) return [];
    const msgs = ring.messages;
    const first = msgs[0];
    const tail = msgs[msgs.length - 1];
    if (!first || !tail || first.offset > after + 1 || tail.offset < upto) return undefined;
    const start = after + 1 - first.offset;
    const windowStart = Math.max(0, msgs.length - ring.capacity);
    if (start < windowStart) return undefined;
    return msgs.slice(start, upto - first.offset + 1);
  }

  /** Every message held for `room` in `epoch`, oldest first (the retained part only). */
  all(room: string, epoch: string): Message[] {
    const ring = this.#rings.get(room);
    if (!ring || ring.epoch !== epoch) return [];
    return ring.messages.slice(-ring.capacity);
  }

  /** Forgets a room, e.g. when its epoch changed. */
  forget(room: string): void {
    this.#rings.delete(room);
  }
}
