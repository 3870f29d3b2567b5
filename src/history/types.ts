import type { Message, Position } from "../protocol/frames.ts";

/** A page request on a room's history; `since` and `before` are exclusive bounds. */
export interface HistoryQuery {
  since?: number;
  before?: number;
  limit: number;
}

/** Options a namespace sets for keeping a room's messages. */
export interface Retention {
  /** Messages kept per room; 0 keeps none. */
  size: number;
  /** Age in seconds after which messages go; 0 means no age limit. */
  ttlSeconds: number;
}

/** Counters of a history store, exported in /metrics. */
export interface HistoryStats {
  /** Rows written since the store opened. */
  written: number;
  /** Write attempts that failed (each retried). */
  failures: number;
  /** Rows queued and not yet written. */
  pending: number;
  /** Rows removed by retention. */
  retained: number;
  /** Rooms with offsets handed out and not yet written (see `reserve`). */
  dirty: number;
}

/**
 * The durable history of every room: messages, and each room's position (latest offset and
 * epoch). Implemented on libSQL; appends are batched off the delivery path.
 */
export interface HistoryStore {
  /** Opens the store and applies migrations. */
  open(): Promise<void>;
  /**
   * The room's position, creating the room with a fresh epoch at offset 0 when it was never
   * seen. Counts rows appended but not yet written, so a caller may seed an offset counter.
   */
  room(room: string): Promise<Position>;
  /**
   * Records, before a node acknowledges offsets it assigned itself, that `room` has offsets
   * not yet written; resolves once that record is durable, or returns undefined when it
   * already is. After an unclean stop such rooms start a new epoch instead of handing the
   * lost offsets out again.
   */
  reserve(room: string): Promise<void> | undefined;
  /** Queues a message for writing within `history.flushMs`. Never throws, never blocks. */
  append(message: Message): void;
  /** Reads stored messages, oldest first, including ones still waiting to be written. */
  read(room: string, query: HistoryQuery): Promise<Message[]>;
  /** Writes every queued message now. */
  flush(): Promise<void>;
  /** Rows queued and not yet written. */
  pending(): number;
  /** False while the queue is over `history.bufferLimit` (the node answers /v1/ready 503). */
  healthy(): boolean;
  /** Cumulative counters: rows written, failed writes, rows pending, rows removed by retention. */
  stats(): HistoryStats;
  /** Flushes and closes. */
  close(): Promise<void>;
}
