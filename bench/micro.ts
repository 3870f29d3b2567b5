/**
 * Micro-benchmarks of the per-frame and per-message work (mitata), each beside a baseline
 * that does the least the same job needs: parsing and validating a client frame against a
 * bare JSON.parse, serialising a message frame against JSON.stringify of the same object,
 * verifying a JWT against an HMAC of the same bytes, matching room patterns against one
 * fixed regex, assigning an offset with the memory broker against a Map increment.
 *
 * usage: bun bench/micro.ts      (`bun run bench`)   MICRO_FILTER=<regex> runs a subset
 */
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bench, do_not_optimize, group, run, summary } from "mitata";
import { createVerifier } from "../src/auth/jwt.ts";
import { MemoryBroker } from "../src/broker/memory.ts";
import { loadConfig } from "../src/config/load.ts";
import { createHistoryStore } from "../src/history/index.ts";
import { silentLogger } from "../src/log.ts";
import type { Message } from "../src/protocol/frames.ts";
import { parseClientFrame } from "../src/protocol/parse.ts";
import { messageFrame } from "../src/protocol/serialize.ts";
import { compileRoomPatterns } from "../src/rooms/patterns.ts";
import { report } from "./lib/report.ts";
import { signToken } from "./lib/token.ts";

const SECRET = "edgepush-bench-secret-0123456789abcdef";
const PUBLISH_FRAME = JSON.stringify({
  type: "publish",
  id: 4,
  room: "chat:lobby",
  data: { text: "hello there, a message of a typical size", n: 42 },
});
const SUBSCRIBE_FRAME = JSON.stringify({
  type: "subscribe",
  id: 2,
  room: "chat:lobby",
  since: { offset: 5, epoch: "k2j9" },
  presence: true,
});
const MESSAGE: Message = {
  room: "chat:lobby",
  offset: 13,
  epoch: "k2j9",
  from: "alice",
  data: { text: "hello there, a message of a typical size", n: 42 },
  ts: 1_733_300_000_000,
};

async function memoryBroker(): Promise<MemoryBroker> {
  const config = loadConfig({
    env: { EDGEPUSH_DB_URL: `file:${join(mkdtempSync(join(tmpdir(), "micro-")), "h.db")}` },
  });
  const store = createHistoryStore({
    config: config.history,
    log: silentLogger,
    retentionOf: () => ({ size: 100, ttlSeconds: 0 }),
  });
  await store.open();
  const broker = new MemoryBroker();
  const none = () => new Map<string, number>();
  await broker.start({
    config,
    node: "micro",
    region: "local",
    startedAt: new Date().toISOString(),
    store,
    local: {
      users: none,
      rooms: none,
      presence: () => [],
      connections: () => 0,
      disconnect: () => 0,
    },
    sink: { message: () => {}, presence: () => {}, status: () => {} },
    log: silentLogger,
  });
  return broker;
}

const config = loadConfig({ env: { EDGEPUSH_JWT_SECRET: SECRET } });
const verifier = createVerifier(config.auth);
const token = signToken(SECRET, "alice");
const [head, body] = token.split(".");
const patterns = compileRoomPatterns(["chat:*", "news:*:daily", "team:acme/*", "dm:alice"]);
const fixed = /^chat:.*$/;
const ROOMS = ["team:acme/ops", "team:other/ops", "chat:lobby", "news:eu:daily", "dm:bob"];
let turn = 0;
/** A different room name each call, so the engine cannot fold the match away. */
const nextRoom = () => ROOMS[turn++ % ROOMS.length] as string;
const broker = await memoryBroker();
await broker.publish({ room: "bench", data: 1 });
const counters = new Map<string, number>([["bench", 0]]);

summary(() => {
  group("parse a client frame", () => {
    bench("JSON.parse only (baseline)", () =>
      do_not_optimize(JSON.parse(PUBLISH_FRAME)),
    ).baseline();
    bench("parseClientFrame publish", () => do_not_optimize(parseClientFrame(PUBLISH_FRAME)));
    bench("parseClientFrame subscribe", () => do_not_optimize(parseClientFrame(SUBSCRIBE_FRAME)));
  });
  group("serialise a message frame", () => {
    bench("JSON.stringify (baseline)", () =>
      do_not_optimize(JSON.stringify({ type: "message", ...MESSAGE })),
    ).baseline();
    bench("messageFrame", () => do_not_optimize(messageFrame(MESSAGE)));
  });
  group("verify a JWT", () => {
    bench("HMAC-SHA256 of the token (baseline)", () =>
      do_not_optimize(createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url")),
    ).baseline();
    bench("verifier.verify", async () => do_not_optimize(await verifier.verify(token)));
  });
  group("match room patterns", () => {
    bench("one fixed regex (baseline)", () => do_not_optimize(fixed.test(nextRoom()))).baseline();
    bench("4 patterns, 5 rooms in turn", () => do_not_optimize(patterns(nextRoom())));
  });
  group("assign an offset", () => {
    bench("Map increment (baseline)", () =>
      do_not_optimize(counters.set("bench", (counters.get("bench") ?? 0) + 1)),
    ).baseline();
    bench("MemoryBroker.publish", async () =>
      do_not_optimize(await broker.publish({ room: "bench", data: 1 })),
    );
  });
});

const filter = process.env.MICRO_FILTER ? new RegExp(process.env.MICRO_FILTER) : undefined;
const { benchmarks } = await run({ filter });
const rows = benchmarks.flatMap((trial) =>
  trial.runs
    .filter((r) => r.stats)
    .map((r) => ({
      benchmark: r.name,
      baseline: trial.baseline ? "yes" : "",
      avgNs: Number(r.stats?.avg.toFixed(1)),
      p75Ns: Number(r.stats?.p75.toFixed(1)),
      p99Ns: Number(r.stats?.p99.toFixed(1)),
    })),
);
report("micro", { filter: process.env.MICRO_FILTER ?? "" }, rows);
process.exit(0);
