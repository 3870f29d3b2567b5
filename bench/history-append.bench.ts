/**
 * History append path on a libSQL file: the store's batched writer (append N messages, then
 * flush: multi-row INSERTs and the rooms' positions in one transaction per batch) against
 * one autocommitted INSERT per message on a file with the same schema and journal mode. The
 * baseline does less work (it keeps no room positions), so the ratio errs on its side.
 *
 * usage: bun bench/history-append.bench.ts
 *   HISTORY_BENCH_MESSAGES   messages per iteration (default 500)
 *   HISTORY_BENCH_BATCH      the store's batchSize (default 500)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { bench, run, summary } from "mitata";
import { applyMigrations } from "../src/history/migrations.ts";
import { LibsqlHistoryStore } from "../src/history/store.ts";
import { silentLogger } from "../src/log.ts";
import type { Message } from "../src/protocol/frames.ts";
import { envNumber, report } from "./lib/report.ts";

const MESSAGES = envNumber("HISTORY_BENCH_MESSAGES", 500);
const BATCH = envNumber("HISTORY_BENCH_BATCH", 500);
const ROOMS = 20;
const dir = mkdtempSync(join(tmpdir(), "history-bench-"));

let offset = 0;
function nextMessages(epoch: string): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    offset++;
    const room = `chat:room-${offset % ROOMS}`;
    out.push({
      room,
      offset,
      epoch,
      from: "alice",
      data: { text: "hello there", n: offset },
      ts: Date.now(),
    });
  }
  return out;
}

const store = new LibsqlHistoryStore({
  config: {
    url: `file:${join(dir, "batched.db")}`,
    authToken: "",
    syncUrl: "",
    syncIntervalSeconds: 0,
    memoryWindow: 1000,
    memoryWindowBytes: 64 * 1024 * 1024,
    flushMs: 100,
    batchSize: BATCH,
    bufferLimit: 1_000_000,
    retentionIntervalSeconds: 3600,
  },
  log: silentLogger,
  retentionOf: () => ({ size: 1_000_000, ttlSeconds: 0 }),
});
await store.open();

const single = createClient({ url: `file:${join(dir, "single.db")}` });
await single.execute("PRAGMA journal_mode = WAL");
await applyMigrations(single, silentLogger);

summary(() => {
  bench(`store.append x${MESSAGES} + flush (batched)`, async () => {
    for (const m of nextMessages("bench")) store.append(m);
    await store.flush();
  });
  bench(`one INSERT per message x${MESSAGES}`, async () => {
    for (const m of nextMessages("bench")) {
      await single.execute({
        sql: "INSERT INTO messages (room, offset, epoch, sender, data, ts) VALUES (?, ?, ?, ?, ?, ?)",
        args: [m.room, m.offset, m.epoch, m.from ?? null, JSON.stringify(m.data), m.ts],
      });
    }
  }).baseline(true);
});

const { benchmarks } = await run();
const rows = benchmarks.flatMap((trial) =>
  trial.runs
    .filter((r) => r.stats)
    .map((r) => ({
      benchmark: r.name,
      msPerIteration: Number(((r.stats?.avg ?? 0) / 1e6).toFixed(3)),
      usPerMessage: Number(((r.stats?.avg ?? 0) / 1e3 / MESSAGES).toFixed(2)),
      messagesPerSecond: Math.round(MESSAGES / ((r.stats?.avg ?? 1) / 1e9)),
    })),
);
const [batched, perRow] = rows;
const ratio = batched && perRow ? perRow.msPerIteration / batched.msPerIteration : Number.NaN;
report("history-append", { messages: MESSAGES, batchSize: BATCH, rooms: ROOMS }, rows, {
  "batched speed-up over one INSERT per message": ratio,
});
await store.close();
single.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
