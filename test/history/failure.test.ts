import { afterEach, beforeEach, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { until } from "../support/wait.ts";
import { historyConfig, msg, offsets, openStore, recordingLogger, tempDir } from "./fixtures.ts";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

/**
 * Another connection to the same file holding an open write transaction: every write of the
 * store fails with SQLITE_BUSY until it ends. File modes do not stop root; a lock does.
 */
async function holdWriteLock(url: string) {
  const other = createClient({ url });
  const tx = await other.transaction("write");
  await tx.execute("INSERT INTO rooms (room, epoch, last_offset) VALUES ('lock-holder', 'x', 0)");
  return async () => {
    await tx.rollback();
    other.close();
  };
}

test("while the database is locked rows stay queued, the store turns unhealthy past its bound, and every row is written once the lock goes", async () => {
  const config = historyConfig(tmp.dir, { bufferLimit: 50, batchSize: 20, flushMs: 10 });
  const log = recordingLogger();
  const store = await openStore(config, { log });
  const { epoch } = await store.room("r");
  for (let i = 1; i <= 10; i++) store.append(msg("r", i, epoch));
  await store.flush();

  const release = await holdWriteLock(config.url);
  for (let i = 11; i <= 70; i++) store.append(msg("r", i, epoch));
  await until(() => store.stats().failures >= 3, { what: "failed write attempts" });
  expect(store.pending()).toBe(60);
  expect(store.healthy()).toBe(false);
  expect(await store.room("r")).toEqual({ offset: 70, epoch });
  expect(offsets(await store.read("r", { since: 60, limit: 100 }))).toEqual(
    Array.from({ length: 10 }, (_, k) => k + 61),
  );
  await expect(store.flush()).rejects.toThrow();
  expect(store.pending()).toBe(60);
  const failing = log.lines.filter((l) => l.event === "history writes failing");
  expect(failing).toHaveLength(1);
  expect(failing[0]?.level).toBe("warn");

  await release();
  await until(() => store.pending() === 0, { timeoutMs: 10_000, what: "the retried write" });
  expect(store.healthy()).toBe(true);
  expect(store.stats().written).toBe(70);
  expect(log.lines.filter((l) => l.event === "history writes recovered")).toHaveLength(1);
  expect(log.lines.filter((l) => l.event === "history writes failing")).toHaveLength(1);
  await store.close();

  const reopened = await openStore(config);
  const all = offsets(await reopened.read("r", { since: 0, limit: 1000 }));
  expect(all).toEqual(Array.from({ length: 70 }, (_, k) => k + 1));
  await reopened.close();
});

test("flush after the fault is removed writes everything queued during it", async () => {
  const config = historyConfig(tmp.dir, { bufferLimit: 1000, batchSize: 7, flushMs: 10 });
  const store = await openStore(config);
  const rooms = ["a", "b", "c"];
  const epochs = await Promise.all(rooms.map((r) => store.room(r)));
  const release = await holdWriteLock(config.url);
  for (let i = 1; i <= 40; i++) {
    for (const [k, r] of rooms.entries()) store.append(msg(r, i, epochs[k]?.epoch as string));
  }
  await until(() => store.stats().failures >= 1, { what: "a failed write" });
  expect(store.healthy()).toBe(true);
  await release();
  await store.flush();
  expect(store.stats()).toMatchObject({ pending: 0, written: 120 });
  for (const r of rooms) {
    expect(offsets(await store.read(r, { since: 0, limit: 100 }))).toHaveLength(40);
  }
  await store.close();
});

test("closing while writes fail says how many rows were not written", async () => {
  const config = historyConfig(tmp.dir);
  const log = recordingLogger();
  const store = await openStore(config, { log });
  const { epoch } = await store.room("r");
  const release = await holdWriteLock(config.url);
  for (let i = 1; i <= 5; i++) store.append(msg("r", i, epoch));
  await store.close();
  await release();
  const line = log.lines.find((l) => l.event === "history closed with unwritten rows");
  expect(line?.level).toBe("error");
  expect(line?.fields.pending).toBe(5);
});
