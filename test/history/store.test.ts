import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import type { LibsqlHistoryStore } from "../../src/history/store.ts";
import { until } from "../support/wait.ts";
import { historyConfig, msg, offsets, openStore, tempDir } from "./fixtures.ts";

let tmp: ReturnType<typeof tempDir>;
let store: LibsqlHistoryStore;

beforeEach(async () => {
  tmp = tempDir();
  store = await openStore(historyConfig(tmp.dir));
});
afterEach(async () => {
  await store.close();
  tmp.remove();
});

describe("positions", () => {
  test("a new room gets a fresh 8-character URL-safe epoch at offset 0", async () => {
    const a = await store.room("chat:a");
    const b = await store.room("chat:b");
    expect(a.offset).toBe(0);
    expect(a.epoch).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(b.epoch).not.toBe(a.epoch);
    expect(await store.room("chat:a")).toEqual(a);
  });

  test("concurrent first calls for one room agree on one epoch", async () => {
    const all = await Promise.all(Array.from({ length: 20 }, () => store.room("new-room")));
    expect(new Set(all.map((p) => p.epoch)).size).toBe(1);
  });

  test("the position counts rows queued and not yet written", async () => {
    const { epoch } = await store.room("r");
    for (let i = 1; i <= 5; i++) store.append(msg("r", i, epoch));
    expect(store.pending()).toBe(5);
    expect(await store.room("r")).toEqual({ offset: 5, epoch });
    await store.flush();
    expect(store.pending()).toBe(0);
    expect(await store.room("r")).toEqual({ offset: 5, epoch });
  });
});

describe("batched writes and reads", () => {
  test("rows are written in batches within flushMs and read back oldest first", async () => {
    const { epoch } = await store.room("r");
    for (let i = 1; i <= 1200; i++) store.append(msg("r", i, epoch));
    await store.flush();
    expect(store.stats()).toMatchObject({ written: 1200, pending: 0, failures: 0 });
    const latest = await store.read("r", { limit: 3 });
    expect(offsets(latest)).toEqual([1198, 1199, 1200]);
    expect(latest[0]).toEqual({ ...msg("r", 1198, epoch, latest[0]?.ts), ts: latest[0]!.ts });
    expect(offsets(await store.read("r", { since: 10, limit: 3 }))).toEqual([11, 12, 13]);
    expect(offsets(await store.read("r", { before: 10, limit: 3 }))).toEqual([7, 8, 9]);
    expect(offsets(await store.read("r", { before: 3, limit: 5 }))).toEqual([1, 2]);
    expect(offsets(await store.read("r", { since: 1199, limit: 5 }))).toEqual([1200]);
    expect(await store.read("other", { limit: 5 })).toEqual([]);
  });

  test("a message keeps its sender, payload and time; server messages have no sender", async () => {
    const { epoch } = await store.room("r");
    store.append({ room: "r", offset: 1, epoch, data: [1, "two", { three: null }], ts: 1234 });
    store.append({ room: "r", offset: 2, epoch, from: "bob", data: "hi", ts: 1235 });
    await store.flush();
    expect(await store.read("r", { since: 0, limit: 10 })).toEqual([
      { room: "r", offset: 1, epoch, data: [1, "two", { three: null }], ts: 1234 },
      { room: "r", offset: 2, epoch, from: "bob", data: "hi", ts: 1235 },
    ]);
  });

  test("the background writer flushes without being asked", async () => {
    const { epoch } = await store.room("r");
    store.append(msg("r", 1, epoch));
    expect(store.pending()).toBe(1);
    await until(() => store.pending() === 0, { timeoutMs: 1000, what: "the background flush" });
    const db = createClient({ url: historyConfig(tmp.dir).url });
    const rs = await db.execute("SELECT offset FROM messages WHERE room = 'r'");
    db.close();
    expect(rs.rows.map((r) => Number(r.offset))).toEqual([1]);
  });

  test("queued rows are visible to reads, merged with written ones", async () => {
    const { epoch } = await store.room("r");
    for (let i = 1; i <= 4; i++) store.append(msg("r", i, epoch));
    await store.flush();
    for (let i = 5; i <= 8; i++) store.append(msg("r", i, epoch));
    expect(store.pending()).toBe(4);
    expect(offsets(await store.read("r", { since: 2, limit: 4 }))).toEqual([3, 4, 5, 6]);
    expect(offsets(await store.read("r", { limit: 3 }))).toEqual([6, 7, 8]);
    expect(offsets(await store.read("r", { before: 6, limit: 3 }))).toEqual([3, 4, 5]);
    expect(store.pending()).toBe(4);
  });
});
