/**
 * Publish-to-deliver latency and throughput across a three-node cluster against one node on
 * the same broker, for both Redis transports (TCP, and Upstash REST through the test
 * gateway in front of the same redis-server). Subscribers are spread over the nodes; the
 * publisher connects to the first node, so in the cluster two thirds of deliveries cross
 * Redis. Ratios compare the cluster with the single node from the same run.
 *
 * usage: bun bench/cluster-latency.ts
 *   CLUSTER_BROKERS=redis,upstash  CLUSTER_SUBSCRIBERS=300  CLUSTER_RATE=200
 *   CLUSTER_SECONDS=5  CLUSTER_THROUGHPUT_COUNT=3000  CLUSTER_WINDOW=200  CLUSTER_PAYLOAD=64
 *   CLUSTER_ROUNDS=3 (each configuration runs this often, interleaved; the table shows medians)
 */
import { RedisClient } from "bun";
import { startUpstashGateway, type UpstashGateway } from "../test/support/upstash-gateway.ts";
import { watchdog } from "./lib/children.ts";
import { Fleet, Worker } from "./lib/fleet.ts";
import { startRedis } from "./lib/redis.ts";
import { envList, envNumber, quantile, report } from "./lib/report.ts";
import { BENCH_LIMITS, BENCH_SECRET, type RunningServer, startServer } from "./lib/servers.ts";

const settings = {
  brokers: envList("CLUSTER_BROKERS", ["redis", "upstash"]),
  subscribers: envNumber("CLUSTER_SUBSCRIBERS", 300),
  ratePerSecond: envNumber("CLUSTER_RATE", 200),
  seconds: envNumber("CLUSTER_SECONDS", 5),
  throughputCount: envNumber("CLUSTER_THROUGHPUT_COUNT", 3000),
  window: envNumber("CLUSTER_WINDOW", 200),
  payloadBytes: envNumber("CLUSTER_PAYLOAD", 64),
  samples: envNumber("CLUSTER_SAMPLES", 20_000),
  rounds: envNumber("CLUSTER_ROUNDS", 3),
};
const ROOM = "bench";
type Row = Record<string, string | number>;

async function startNodes(
  kind: string,
  count: number,
  redisUrl: string,
  gateway: UpstashGateway | undefined,
): Promise<RunningServer[]> {
  const env = {
    EDGEPUSH_BROKER: kind,
    REDIS_URL: redisUrl,
    UPSTASH_REDIS_REST_URL: gateway?.url ?? "",
    UPSTASH_REDIS_REST_TOKEN: gateway?.token ?? "",
  };
  const nodes: RunningServer[] = [];
  // Each node keeps history in its own file (startServer's folder): several processes
  // creating rooms at once in one SQLite file wait on each other's locks.
  for (let i = 0; i < count; i++) {
    nodes.push(
      await startServer("edgepush", {
        env: { ...env, FLY_MACHINE_ID: `n${i}` },
        config: BENCH_LIMITS,
      }),
    );
  }
  return nodes;
}

async function measure(kind: string, nodes: RunningServer[]): Promise<Row> {
  const base = {
    framing: "edgepush" as const,
    room: ROOM,
    openConcurrency: 50,
    secret: BENCH_SECRET,
    latencySamples: settings.samples,
  };
  const fleet = await Fleet.start(1, settings.subscribers, () => ({
    ...base,
    urls: nodes.map((n) => n.base),
    connections: settings.subscribers,
    userPrefix: "sub-",
  }));
  const first = nodes[0] as RunningServer;
  const publisher = await Worker.start({
    ...base,
    urls: [first.base],
    connections: 1,
    userPrefix: "pub-",
  });
  const publish = (count: number, rate: number, window: number) =>
    publisher.send<{ sent: number; ms: number }>({
      cmd: "publish",
      count,
      rate,
      window,
      size: settings.payloadBytes,
      timeoutMs: (settings.seconds + 30) * 1000,
    });
  const stats = () =>
    fleet.all<{ received: number; latencies: number[]; ms: number }>({ cmd: "stats" });
  /** Waits (up to 5 s) until the subscribers hold `expected` deliveries since the last reset. */
  const settle = async (expected: number) => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const got = (await stats()).reduce((n, st) => n + st.received, 0);
      if (got >= expected) return;
      await Bun.sleep(50);
    }
  };
  try {
    await fleet.open();
    await publisher.send({ cmd: "open" });
    const warm = await publish(settings.ratePerSecond, settings.ratePerSecond, 1_000_000);
    await settle(warm.sent * settings.subscribers);
    await fleet.all({ cmd: "reset" });
    const steady = await publish(
      settings.ratePerSecond * settings.seconds,
      settings.ratePerSecond,
      1_000_000,
    );
    await settle(steady.sent * settings.subscribers);
    const latency = await stats();
    const all = latency.flatMap((s) => s.latencies).sort((a, b) => a - b);
    const delivered = latency.reduce((n, s) => n + s.received, 0);

    await fleet.all({ cmd: "reset" });
    const burst = await publish(settings.throughputCount, 0, settings.window);
    await settle(burst.sent * settings.subscribers);
    const after = await stats();
    const burstDelivered = after.reduce((n, s) => n + s.received, 0);
    return {
      broker: kind,
      nodes: nodes.length,
      published: steady.sent,
      missing: steady.sent * settings.subscribers - delivered,
      p50ms: Number(quantile(all, 0.5).toFixed(3)),
      p99ms: Number(quantile(all, 0.99).toFixed(3)),
      maxms: Number((all.at(-1) ?? Number.NaN).toFixed(3)),
      publishesPerSec: Math.round(burst.sent / (burst.ms / 1000)),
      deliveriesPerSec: Math.round(burstDelivered / (burst.ms / 1000)),
      burstMissing: burst.sent * settings.subscribers - burstDelivered,
    };
  } finally {
    await publisher.stop();
    await fleet.stop();
  }
}

/** The median of each numeric column over rounds of one configuration. */
function median(runs: Row[]): Row {
  const first = runs[0] as Row;
  const out: Row = { ...first, rounds: runs.length };
  for (const [key, v] of Object.entries(first)) {
    if (typeof v !== "number" || key === "nodes") continue;
    const sorted = runs.map((r) => Number(r[key])).sort((a, b) => a - b);
    out[key] = sorted[Math.floor((sorted.length - 1) / 2)] as number;
  }
  return out;
}

const done = watchdog(envNumber("CLUSTER_TIMEOUT_SECONDS", 1800), "cluster-latency");
const redis = await startRedis();
const runs = new Map<string, Row[]>();
try {
  const gateway = settings.brokers.includes("upstash") ? startUpstashGateway(redis.url) : undefined;
  // Rounds interleave the configurations, so a change in machine load hits them alike.
  for (let round = 0; round < settings.rounds; round++) {
    for (const kind of settings.brokers) {
      for (const count of [1, 3]) {
        const flush = new RedisClient(redis.url);
        await flush.send("FLUSHALL", []);
        flush.close();
        const nodes = await startNodes(kind, count, redis.url, gateway);
        let row: Row;
        try {
          row = await measure(kind, nodes);
        } finally {
          await Promise.all(nodes.map((n) => n.stop()));
        }
        const key = `${kind}/${count}`;
        runs.set(key, [...(runs.get(key) ?? []), row]);
        process.stderr.write(`cluster-latency round ${round + 1}: ${JSON.stringify(row)}\n`);
      }
    }
  }
  await gateway?.stop();
} finally {
  await redis.stop();
}

const rows = [...runs.values()].map(median);
const value = (kind: string, nodes: number, key: string) =>
  Number(rows.find((r) => r.broker === kind && r.nodes === nodes)?.[key]);
const ratios: Record<string, number> = {};
for (const kind of settings.brokers) {
  ratios[`${kind}: 3 nodes p50 / 1 node p50`] = value(kind, 3, "p50ms") / value(kind, 1, "p50ms");
  ratios[`${kind}: 3 nodes p99 / 1 node p99`] = value(kind, 3, "p99ms") / value(kind, 1, "p99ms");
  ratios[`${kind}: 3 nodes publishes/s / 1 node`] =
    value(kind, 3, "publishesPerSec") / value(kind, 1, "publishesPerSec");
}
done();
report("cluster-latency", settings, rows, ratios);
