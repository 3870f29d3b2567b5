/** Counters of a Redis broker, exported by the node in /metrics. */
export type ClusterStats = {
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
};

/** What each counter of a cluster broker means, as /metrics describes it. */
export const CLUSTER_COUNTERS: Record<Exclude<keyof ClusterStats, "up">, string> = {
  published: "Messages this node published through the broker.",
  received: "Messages from other nodes received on the cluster channel.",
  unavailable: "Publishes refused because Redis was unreachable.",
  outages: "Times the link to Redis was lost.",
  timeouts: "Redis requests given up after the command timeout.",
  late: "Publishes that timed out and were assigned after all, delivered late.",
  seeded: "Room sequences seeded from the history store.",
  caughtUp: "Messages handed over from hot history after reconnecting.",
  heartbeats: "Node heartbeats written.",
  nodesRemoved: "Dead nodes removed by this node.",
  malformed: "Cluster channel payloads that could not be read.",
};

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
