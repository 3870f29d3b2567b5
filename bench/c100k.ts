/**
 * 100,000 concurrent connections on one machine: several edgepush nodes on one Redis, several
 * client processes (each process may hold at most 20,000 open files), then one
 * `POST /v1/broadcast` that must reach every connection. Reports the time to open, the time
 * for the broadcast to reach all, and the nodes' memory per connection.
 *
 * Node k listens on 127.0.0.(k+1), so each node has the whole ephemeral port range to itself.
 * A watchdog ends the run after C100K_TIMEOUT_SECONDS whatever happens. What the nodes logged
 * about Redis (commands past the broker's timeout, PINGs after them, lost links) and the
 * connections they refused while opening are printed and kept in the result, failed run or not.
 *
 * usage: bun bench/c100k.ts
 *   C100K_CONNECTIONS=100000  C100K_NODES=6  C100K_CLIENTS=6  C100K_OPEN_CONCURRENCY=100
 *   C100K_TIMEOUT_SECONDS=600
 */
import { watchdog } from "./lib/children.ts";
import { Fleet } from "./lib/fleet.ts";
import { startRedis } from "./lib/redis.ts";
import { envNumber, report } from "./lib/report.ts";
import { BENCH_API_KEY, BENCH_SECRET, type RunningServer, startServer } from "./lib/servers.ts";

const settings = {
  connections: envNumber("C100K_CONNECTIONS", 100_000),
  nodes: envNumber("C100K_NODES", 6),
  clientProcesses: envNumber("C100K_CLIENTS", 6),
  openConcurrency: envNumber("C100K_OPEN_CONCURRENCY", 100),
  timeoutSeconds: envNumber("C100K_TIMEOUT_SECONDS", 600),
  broadcastTimeoutSeconds: envNumber("C100K_BROADCAST_TIMEOUT_SECONDS", 60),
};
const FILE_LIMIT = 20_000;

interface Stats {
  received: number;
  open: number;
  closedEarly: number;
}

function check(): void {
  const perNode = settings.connections / settings.nodes;
  const perClient = settings.connections / settings.clientProcesses;
  if (perNode > FILE_LIMIT - 500 || perClient > FILE_LIMIT - 500) {
    throw new Error(
      `${Math.ceil(perNode)} sockets a node and ${Math.ceil(perClient)} a client process ` +
        `exceed the ${FILE_LIMIT} open files a process may hold: raise C100K_NODES/C100K_CLIENTS`,
    );
  }
}

/** What the nodes' logs say about the link to Redis and the connections they refused. */
interface BrokerLog {
  /** `redis slow`: a command went past the broker's command timeout. */
  redisSlow: number;
  /** Longest PING answer after such a timeout (`redis answered`). */
  slowestPingMs: number;
  /** `redis unreachable`: the link was dropped. */
  redisLost: number;
  /** Sockets the nodes closed with 1011 (internal error) and 1013 (try again later). */
  closed1011: number;
  closed1013: number;
}

/** Reads the nodes' JSON log lines (the first 1,000 of each node, as `startServer` keeps them). */
function brokerLog(nodes: RunningServer[]): { summary: BrokerLog; lines: string[] } {
  const summary = { redisSlow: 0, slowestPingMs: 0, redisLost: 0, closed1011: 0, closed1013: 0 };
  const lines: string[] = [];
  for (const node of nodes) {
    for (const text of node.output.flatMap((chunk) => chunk.split("\n"))) {
      let line: { event?: string; code?: number; pingMs?: number };
      try {
        line = JSON.parse(text);
      } catch {
        continue; // not a JSON line (a stack trace, a partial chunk)
      }
      if (line.event === "redis slow") summary.redisSlow++;
      if (line.event === "redis unreachable") summary.redisLost++;
      if (line.event === "redis answered") {
        summary.slowestPingMs = Math.max(summary.slowestPingMs, line.pingMs ?? 0);
      }
      if (line.event === "connection closed" && line.code === 1011) summary.closed1011++;
      if (line.event === "connection closed" && line.code === 1013) summary.closed1013++;
      if (line.event?.startsWith("redis ") && lines.length < 20) lines.push(text);
    }
  }
  return { summary, lines };
}

function printBrokerLog(nodes: RunningServer[]): BrokerLog {
  const { summary, lines } = brokerLog(nodes);
  process.stderr.write(`c100k: nodes' Redis log ${JSON.stringify(summary)}\n`);
  if (lines.length) process.stderr.write(`${lines.join("\n")}\n`);
  return summary;
}

async function totals(fleet: Fleet): Promise<Stats> {
  const all = await fleet.all<Stats>({ cmd: "stats" });
  return all.reduce(
    (t, s) => ({
      received: t.received + s.received,
      open: t.open + s.open,
      closedEarly: t.closedEarly + s.closedEarly,
    }),
    { received: 0, open: 0, closedEarly: 0 },
  );
}

async function broadcast(node: RunningServer): Promise<void> {
  const res = await fetch(`${node.http}/v1/broadcast`, {
    method: "POST",
    headers: { authorization: `Bearer ${BENCH_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ data: { text: "hello, everyone" } }),
  });
  if (!res.ok) throw new Error(`broadcast answered ${res.status}: ${await res.text()}`);
}

async function run(): Promise<Record<string, string | number>> {
  check();
  const redis = await startRedis();
  const nodes: RunningServer[] = [];
  let fleet: Fleet | undefined;
  try {
    for (let k = 0; k < settings.nodes; k++) {
      nodes.push(
        await startServer("edgepush", {
          host: `127.0.0.${k + 1}`,
          env: { EDGEPUSH_BROKER: "redis", REDIS_URL: redis.url },
        }),
      );
    }
    process.stderr.write(`c100k: ${nodes.length} nodes on ${redis.url}\n`);
    const rssBefore = nodes.reduce((n, s) => n + s.rss(), 0);
    fleet = await Fleet.start(settings.clientProcesses, settings.connections, (i, n) => ({
      framing: "edgepush",
      urls: nodes.map((s) => s.base),
      connections: n,
      room: "",
      openConcurrency: settings.openConcurrency,
      secret: BENCH_SECRET,
      userPrefix: `c${i}-`,
      latencySamples: 0,
    }));
    const t0 = performance.now();
    const opened = await fleet.open();
    const openSeconds = (performance.now() - t0) / 1000;
    process.stderr.write(`c100k: ${opened} connections open in ${openSeconds.toFixed(1)} s\n`);
    const rssAfter = nodes.reduce((n, s) => n + s.rss(), 0);

    await fleet.all({ cmd: "reset" });
    process.stderr.write("c100k: broadcasting\n");
    const t1 = performance.now();
    await broadcast(nodes[0] as RunningServer);
    const deadline = t1 + settings.broadcastTimeoutSeconds * 1000;
    let stats = await totals(fleet);
    while (stats.received < opened && performance.now() < deadline) {
      await Bun.sleep(20);
      stats = await totals(fleet);
    }
    const deliverMs = performance.now() - t1;
    const logged = printBrokerLog(nodes);
    return {
      connections: opened,
      nodes: settings.nodes,
      clientProcesses: settings.clientProcesses,
      openSeconds: Number(openSeconds.toFixed(1)),
      openPerSec: Math.round(opened / openSeconds),
      stillOpen: stats.open,
      broadcastReached: stats.received,
      broadcastMissed: opened - stats.received,
      deliverAllMs: Number(deliverMs.toFixed(1)),
      nodesRssMiB: Number((rssAfter / 2 ** 20).toFixed(0)),
      kibPerConnection: Number(((rssAfter - rssBefore) / opened / 1024).toFixed(2)),
      ...logged,
    };
  } catch (err) {
    printBrokerLog(nodes);
    for (const node of nodes) {
      const errors = node.output.filter((l) => l.includes('"level":"error"')).slice(0, 5);
      if (errors.length) process.stderr.write(`node ${node.base} errors:\n${errors.join("\n")}\n`);
    }
    throw err;
  } finally {
    await fleet?.stop();
    await Promise.all(nodes.map((s) => s.stop()));
    await redis.stop();
  }
}

const done = watchdog(settings.timeoutSeconds, "c100k");
const row = await run();
done();
report("c100k", settings, [row], {
  "share of connections reached": (row.broadcastReached as number) / (row.connections as number),
});
