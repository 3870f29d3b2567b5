/** Counters of a Redis broker, exported by the node in /metrics. */
export interface ClusterStats {
  /** 1 while the link to Redis works. */
  up: number;
  /** Messages this node published. */
  published: number;
  /** Messages from other nodes received on the cluster channel. */
  received: number;
  /** Publishes refused because Redis was unreachable. */
  unavailable: number;
  /** Times the link to Redis was lost. */
  outages: number;
  /** Requests given up after the command timeout (the link stays unless a PING also fails). */
  timeouts: number;
  /** Publishes that timed out and were then assigned after all, delivered and stored late. */
  late: number;
  /** Room sequences seeded from the history store. */
  seeded: number;
  /** Messages handed over after reconnecting, for rooms with local subscribers. */
  caughtUp: number;
  /** Heartbeats written. */
  heartbeats: number;
  /** Dead nodes removed by this node. */
  nodesRemoved: number;
  /** Channel payloads that could not be read. */
  malformed: number;
}

/** Counters at zero. */
export function newStats(): ClusterStats {
  return {
    up: 0,
    published: 0,
    received: 0,
    unavailable: 0,
    outages: 0,
    timeouts: 0,
    late: 0,
    seeded: 0,
    caughtUp: 0,
    heartbeats: 0,
    nodesRemoved: 0,
    malformed: 0,
  };
}
