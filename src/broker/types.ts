import type { Config } from "../../config/schema.ts";
import type { HistoryStore } from "../history/types.ts";
import type { Logger } from "../log.ts";
import type { Message, Position } from "../protocol/frames.ts";

/** What a publish asks the broker to assign and fan out. */
export interface PublishInput {
  room: string;
  from?: string;
  data: unknown;
}

/** A join or leave of a user in a room, cluster-wide. */
export interface PresenceEvent {
  type: "join" | "leave";
  room: string;
  user: string;
}

/** One node as `/v1/nodes` lists it. */
export interface NodeInfo {
  node: string;
  region: string;
  connections: number;
  startedAt: string;
}

/** A page of a listing, with the cursor of the next page when there is one. */
export interface Page<T> {
  items: T[];
  cursor?: string;
}

/** The node's own connections, as the broker reads them (the connection registry). */
export interface LocalView {
  /** Users with at least one connection on this node, and their connection counts. */
  users(): Map<string, number>;
  /** Rooms with at least one subscribed connection on this node, and their counts. */
  rooms(): Map<string, number>;
  /** Users with at least one connection subscribed to `room` on this node. */
  presence(room: string): string[];
  /** Connections open on this node. */
  connections(): number;
  /** Closes every connection of `user` on this node; returns how many were closed. */
  disconnect(user: string, code: number, reason: string): number;
}

/** Where a broker hands what reaches this node from the cluster. */
export interface BrokerSink {
  /**
   * A message assigned by another node (a broker drops its own node's messages), or one of
   * this node's publishes answered after its caller was told `unavailable`.
   */
  message(message: Message): void;
  /** A cluster-wide join or leave, including ones caused on this node. */
  presence(event: PresenceEvent): void;
  /** The broker's link to the cluster went down (false) or came back (true). */
  status(up: boolean): void;
}

/** Everything a broker is given when the node starts it. */
export interface BrokerContext {
  config: Config;
  node: string;
  region: string;
  startedAt: string;
  store: HistoryStore;
  local: LocalView;
  sink: BrokerSink;
  log: Logger;
}

/**
 * Keeps the nodes of a cluster in step: assigns offsets, fans messages out to every node,
 * and answers cluster-wide questions. `memory` is the single-node broker; `redis` and
 * `upstash` share their state through Redis.
 */
export interface Broker {
  readonly kind: "memory" | "redis" | "upstash";
  start(ctx: BrokerContext): Promise<void>;
  close(): Promise<void>;
  /** Whether the broker can publish right now. */
  up(): boolean;
  /** Counters since start, exported in /metrics (cluster brokers; the memory broker has none). */
  stats?(): Record<string, number>;

  /** Assigns the room's next offset atomically and sends the message to every other node. */
  publish(input: PublishInput): Promise<Message>;
  /** The room's latest offset and epoch (offset 0 for a room without messages). */
  position(room: string): Promise<Position>;
  /** Messages with offsets above `after` from the broker's hot history, or undefined when
   * the broker no longer holds message `after + 1`. */
  recent(room: string, after: number, limit: number): Promise<Message[] | undefined>;

  /** A user's first connection on this node joined `room`. */
  join(room: string, user: string): Promise<void>;
  /** A user's last connection on this node left `room`. */
  leave(room: string, user: string): Promise<void>;
  /** Users with a connection in `room` anywhere in the cluster. */
  presence(room: string): Promise<string[]>;

  /** Online users cluster-wide, sorted by user id; `cursor` is the last user of a page. */
  users(limit: number, cursor?: string): Promise<Page<{ user: string; connections: number }>>;
  /** One user's cluster-wide connection count. */
  user(user: string): Promise<{ user: string; online: boolean; connections: number }>;
  /** Rooms with subscribers cluster-wide, sorted by name. */
  rooms(limit: number, cursor?: string): Promise<Page<{ room: string; subscribers: number }>>;
  /** The live nodes of the cluster. */
  nodes(): Promise<NodeInfo[]>;
  /** Closes every connection of `user` on every node; resolves to how many were closed. */
  disconnect(user: string, code: number, reason: string): Promise<number>;
}
