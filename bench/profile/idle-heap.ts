/**
 * Where an idle connection's memory goes: runs an edgepush node inside this process, opens
 * idle connections to it from client processes, and compares the JavaScript heap (object
 * counts by type, after a full collection) and the resident memory before and after.
 *
 * usage: bun bench/profile/idle-heap.ts     PROFILE_CONNECTIONS=10000  PROFILE_TOP=25
 */
import { heapStats } from "bun:jsc";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { silentLogger } from "../../src/log.ts";
import { startNode } from "../../src/server/node.ts";
import { Fleet } from "../lib/fleet.ts";
import { envNumber } from "../lib/report.ts";
import { BENCH_SECRET } from "../lib/servers.ts";

const connections = envNumber("PROFILE_CONNECTIONS", 10_000);
const top = envNumber("PROFILE_TOP", 25);

interface Snapshot {
  rss: number;
  heap: number;
  capacity: number;
  extra: number;
  types: Record<string, number>;
}

function snapshot(): Snapshot {
  Bun.gc(true);
  const stats = heapStats();
  return {
    rss: process.memoryUsage().rss,
    heap: stats.heapSize,
    capacity: stats.heapCapacity,
    extra: stats.extraMemorySize,
    types: stats.objectTypeCounts,
  };
}

const dir = mkdtempSync(join(tmpdir(), "profile-idle-"));
const config = loadConfig({
  env: { EDGEPUSH_JWT_SECRET: BENCH_SECRET, EDGEPUSH_DB_URL: `file:${join(dir, "h.db")}` },
  overrides: { server: { host: "127.0.0.1", port: 0 }, limits: { maxConnections: 1_000_000 } },
});
const node = await startNode({ config, log: silentLogger });
const fleet = await Fleet.start(2, connections, (i, n) => ({
  framing: "edgepush",
  urls: [`ws://127.0.0.1:${node.port}`],
  connections: n,
  room: "",
  openConcurrency: 100,
  secret: BENCH_SECRET,
  userPrefix: `idle${i}-`,
  latencySamples: 0,
}));

const before = snapshot();
await fleet.open();
await Bun.sleep(1000);
const rssBeforeGc = process.memoryUsage().rss;
const after = snapshot();

const per = (a: number, b: number) => ((b - a) / connections).toFixed(1);
process.stdout.write(
  `${connections} connections\n` +
    `rss growth per connection: ${per(before.rss, rssBeforeGc)} B before a full GC, ` +
    `${per(before.rss, after.rss)} B after\n` +
    `js heap growth per connection (after GC): ${per(before.heap, after.heap)} B live, ` +
    `${per(before.capacity, after.capacity)} B capacity, ${per(before.extra, after.extra)} B extra\n\n` +
    "objects per connection, by type (after GC):\n",
);
const growth = Object.entries(after.types)
  .map(([type, n]) => [type, (n - (before.types[type] ?? 0)) / connections] as const)
  .filter(([, n]) => n >= 0.05)
  .sort((a, b) => b[1] - a[1])
  .slice(0, top);
for (const [type, n] of growth) process.stdout.write(`  ${n.toFixed(2).padStart(7)}  ${type}\n`);

await fleet.stop();
await node.drain();
process.exit(0);
