/**
 * Memory per idle connection: the server's resident memory before and after opening many
 * connections that then only answer pings, divided by the number of connections. edgepush
 * connections are authenticated (JWT in the URL) and joined to their inbox and `$broadcast`;
 * Socket.IO ones are connected to the main namespace; bare ones are subscribed to a topic.
 *
 * usage: bun bench/idle-memory.ts
 *   IDLE_SERVERS=edgepush,bare,socketio-node,socketio-bun  IDLE_CONNECTIONS=10000
 *   IDLE_CLIENTS=2  IDLE_SETTLE_SECONDS=3
 */
import { watchdog } from "./lib/children.ts";
import { Fleet } from "./lib/fleet.ts";
import { envList, envNumber, report } from "./lib/report.ts";
import { BENCH_SECRET, type ServerName, startServer } from "./lib/servers.ts";

const settings = {
  servers: envList("IDLE_SERVERS", ["edgepush", "bare", "socketio-node", "socketio-bun"]),
  connections: envNumber("IDLE_CONNECTIONS", 10_000),
  clientProcesses: envNumber("IDLE_CLIENTS", 2),
  settleSeconds: envNumber("IDLE_SETTLE_SECONDS", 3),
};

const done = watchdog(envNumber("IDLE_TIMEOUT_SECONDS", 900), "idle-memory");
const rows: Record<string, string | number>[] = [];
for (const name of settings.servers as ServerName[]) {
  const server = await startServer(name);
  const fleet = await Fleet.start(settings.clientProcesses, settings.connections, (i, n) => ({
    framing: server.framing,
    urls: [server.base],
    connections: n,
    room: "",
    openConcurrency: 100,
    secret: BENCH_SECRET,
    userPrefix: `idle${i}-`,
    latencySamples: 0,
  }));
  try {
    await Bun.sleep(settings.settleSeconds * 1000);
    const before = server.rss();
    const t0 = performance.now();
    const opened = await fleet.open();
    const openSeconds = (performance.now() - t0) / 1000;
    await Bun.sleep(settings.settleSeconds * 1000);
    const after = server.rss();
    rows.push({
      server: name,
      connections: opened,
      openSeconds: Number(openSeconds.toFixed(2)),
      rssBeforeMiB: Number((before / 2 ** 20).toFixed(1)),
      rssAfterMiB: Number((after / 2 ** 20).toFixed(1)),
      kibPerConnection: Number(((after - before) / opened / 1024).toFixed(2)),
    });
    process.stderr.write(`idle-memory: ${JSON.stringify(rows.at(-1))}\n`);
  } finally {
    await fleet.stop();
    await server.stop();
  }
}

function perConnection(name: string): number {
  return Number(rows.find((r) => r.server === name)?.kibPerConnection ?? Number.NaN);
}

done();
report("idle-memory", settings, rows, {
  "edgepush / bare (memory per connection)": perConnection("edgepush") / perConnection("bare"),
  "edgepush / socketio-node": perConnection("edgepush") / perConnection("socketio-node"),
  "edgepush / socketio-bun": perConnection("edgepush") / perConnection("socketio-bun"),
});
