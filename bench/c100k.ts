/**
 * 100,000 concurrent connections on one machine: several edgepush nodes on one Redis, several
 * client processes (each process may hold at most 20,000 open files), then one
 * `POST /v1/broadcast` that must reach every connection. Reports the time to open, the time
 * for the broadcast to reach all, and the nodes' memory per connection.
 *
 * Node k listens on 127.0.0.(k+1), so each node has the whole ephemeral port range to itself.
 * A watchdog ends the run after C100K_TIMEOUT_SECONDS whatever happens.
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
    };
  } catch (err) {
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
