/**
 * Publish-to-deliver latency under a steady rate: one publisher stamps each message with its
 * send time; every subscriber reads the stamp on arrival. Percentiles come from a uniform
 * sample of all deliveries. Same servers and clients as bench/fanout.ts.
 *
 * usage: bun bench/latency.ts
 *   LATENCY_SERVERS=edgepush,bare,socketio-node,socketio-bun  LATENCY_SUBSCRIBERS=1000
 *   LATENCY_RATE=100  LATENCY_SECONDS=10  LATENCY_PAYLOAD=64  LATENCY_CLIENTS=2
 */
import { watchdog } from "./lib/children.ts";
import { Fleet, Worker } from "./lib/fleet.ts";
import { envList, envNumber, quantile, report } from "./lib/report.ts";
import { BENCH_SECRET, type RunningServer, type ServerName, startServer } from "./lib/servers.ts";

const settings = {
  servers: envList("LATENCY_SERVERS", ["edgepush", "bare", "socketio-node", "socketio-bun"]),
  subscribers: envNumber("LATENCY_SUBSCRIBERS", 1000),
  ratePerSecond: envNumber("LATENCY_RATE", 100),
  seconds: envNumber("LATENCY_SECONDS", 10),
  payloadBytes: envNumber("LATENCY_PAYLOAD", 64),
  clientProcesses: envNumber("LATENCY_CLIENTS", 2),
  samplesPerClient: envNumber("LATENCY_SAMPLES", 20_000),
};
const ROOM = "bench";

async function measure(server: RunningServer): Promise<Record<string, string | number>> {
  const base = {
    framing: server.framing,
    urls: [server.base],
    room: ROOM,
    openConcurrency: 50,
    secret: BENCH_SECRET,
    latencySamples: settings.samplesPerClient,
  };
  const fleet = await Fleet.start(settings.clientProcesses, settings.subscribers, (i, n) => ({
    ...base,
    connections: n,
    userPrefix: `sub${i}-`,
  }));
  const publisher = await Worker.start({ ...base, connections: 1, userPrefix: "publisher-" });
  try {
    await fleet.open();
    await publisher.send({ cmd: "open" });
    const count = Math.round(settings.ratePerSecond * settings.seconds);
    const publish = (n: number) =>
      publisher.send<{ sent: number }>({
        cmd: "publish",
        count: n,
        rate: settings.ratePerSecond,
        window: 1_000_000,
        size: settings.payloadBytes,
        timeoutMs: (settings.seconds + 10) * 1000,
      });
    await publish(Math.min(count, settings.ratePerSecond));
    await fleet.all({ cmd: "reset" });
    const run = await publish(count);
    await Bun.sleep(500);
    const stats = await fleet.all<{ received: number; latencies: number[]; closedEarly: number }>({
      cmd: "stats",
    });
    const all = stats.flatMap((s) => s.latencies).sort((a, b) => a - b);
    const received = stats.reduce((n, s) => n + s.received, 0);
    return {
      server: server.name,
      published: run.sent,
      delivered: received,
      missing: run.sent * settings.subscribers - received,
      p50ms: Number(quantile(all, 0.5).toFixed(3)),
      p90ms: Number(quantile(all, 0.9).toFixed(3)),
      p99ms: Number(quantile(all, 0.99).toFixed(3)),
      maxms: Number((all.at(-1) ?? Number.NaN).toFixed(3)),
      closedEarly: stats.reduce((n, s) => n + s.closedEarly, 0),
    };
  } finally {
    await publisher.stop();
    await fleet.stop();
  }
}

const done = watchdog(envNumber("LATENCY_TIMEOUT_SECONDS", 900), "latency");
const rows: Record<string, string | number>[] = [];
for (const name of settings.servers as ServerName[]) {
  const server = await startServer(name);
  try {
    rows.push(await measure(server));
  } finally {
    await server.stop();
  }
  process.stderr.write(`latency: ${JSON.stringify(rows.at(-1))}\n`);
}

const p = (name: string, key: string) => Number(rows.find((r) => r.server === name)?.[key]);
done();
report("latency", settings, rows, {
  "edgepush p50 / bare p50": p("edgepush", "p50ms") / p("bare", "p50ms"),
  "edgepush p99 / bare p99": p("edgepush", "p99ms") / p("bare", "p99ms"),
});
