import type { Message } from "../protocol/frames.ts";

interface Ring {
  epoch: string;
  messages: Message[];
  /** The size of each message in `messages`, in bytes of its frame. */
  sizes: number[];
  bytes: number;
  capacity: number;
}

/**
 * The newest messages of each room, kept in memory so recovery after a short disconnect
 * never touches the store. Each room's ring holds a contiguous run of offsets; the rooms
 * least recently written are forgotten past `maxRooms`, or while all rings together hold
 * more than `maxBytes` (counted as the size of each message's frame).
 */
export class MemoryWindow {
  readonly #rings = new Map<string, Ring>();
  readonly #maxRooms: number;
  readonly #maxBytes: number;
  readonly #capacityOf: (room: string) => number;
  #bytes = 0;

  constructor(opts: {
    maxRooms: number;
    maxBytes?: number;
    capacityOf: (room: string) => number;
  }) {
    this.#maxRooms = opts.maxRooms;
    this.#maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#capacityOf = opts.capacityOf;
  }

  /** Bytes of message frames held, across rooms. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Rooms held. */
  get rooms(): number {
    return this.#rings.size;
  }

  /** The last offset held for `room` in `epoch`, if the room is held. */
  last(room: string): { offset: number; epoch: string } | undefined {
    const ring = this.#rings.get(room);
    const tail = ring?.messages[ring.messages.length - 1];
    return ring && tail ? { offset: tail.offset, epoch: ring.epoch } : undefined;
  }

  /**
   * Adds a message whose frame is `size` bytes; a message that does not follow the ring's
   * last starts the ring anew.
   */
  add(message: Message, size: number): void {
    let ring = this.#rings.get(message.room);
    if (ring) {
      this.#rings.delete(message.room);
      const tail = ring.messages[ring.messages.length - 1];
      if (ring.epoch !== message.epoch || !tail || tail.offset + 1 !== message.offset) {
        this.#bytes -= ring.bytes;
        ring.messages = [];
        ring.sizes = [];
        ring.bytes = 0;
        ring.epoch = message.epoch;
      }
    } else {
      ring = {
        epoch: message.epoch,
        messages: [],
        sizes: [],
        bytes: 0,
        capacity: this.#capacityOf(message.room),
      };
      if (this.#rings.size >= this.#maxRooms) this.#dropOldest();
    }
    this.#rings.set(message.room, ring);
    if (ring.capacity === 0) return;
    ring.messages.push(message);
    ring.sizes.push(size);
    ring.bytes += size;
    this.#bytes += size;
    if (ring.messages.length > ring.capacity * 2) {
      const cut = ring.messages.length - ring.capacity;
      let freed = 0;
      for (let i = 0; i < cut; i++) freed += ring.sizes[i] ?? 0;
      ring.messages = ring.messages.slice(cut);
      ring.sizes = ring.sizes.slice(cut);
      ring.bytes -= freed;
      this.#bytes -= freed;
    }
    // Past the byte budget, the least recently written rooms go first; the room just written
    // is the most recent, so it goes last (and alone, only when it passes the budget itself).
    while (this.#bytes > this.#maxBytes && this.#rings.size > 0) this.#dropOldest();
  }

  #dropOldest(): void {
    const oldest = this.#rings.keys().next().value;
    if (oldest !== undefined) this.forget(oldest);
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
    const ring = this.#rings.get(room);
    if (!ring) return;
    this.#bytes -= ring.bytes;
    this.#rings.delete(room);
  }
}
