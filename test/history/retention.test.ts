import { afterEach, beforeEach, expect, test } from "bun:test";
import type { Retention } from "../../src/history/types.ts";
import { until } from "../support/wait.ts";
import { historyConfig, msg, offsets, openStore, tempDir } from "./fixtures.ts";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

const DAY = 86_400_000;

/** Retention by namespace, the part of the room name before ':'. */
function byNamespace(room: string): Retention {
  switch (room.split(":")[0]) {
    case "count":
      return { size: 5, ttlSeconds: 0 };
    case "age":
      return { size: 1000, ttlSeconds: 3600 };
    case "none":
      return { size: 0, ttlSeconds: 0 };
    default:
      return { size: 1000, ttlSeconds: 0 };
  }
}

test("retention keeps the latest `size` by count and drops rows past the TTL, and nothing else", async () => {
  const store = await openStore(historyConfig(tmp.dir), { retentionOf: byNamespace });
  const now = Date.now();
  const rooms = ["count:a", "age:b", "none:c", "keep:d"];
  const epochs = new Map<string, string>();
  for (const room of rooms) {
    const { epoch } = await store.room(room);
    epochs.set(room, epoch);
    for (let i = 1; i <= 20; i++) {
      const ts = i <= 8 ? now - 2 * DAY : now - 1000;
      store.append(msg(room, i, epoch, ts));
    }
  }
  await store.room("empty:e");
  await store.flush();

  const removed = await store.retain();
  expect(removed).toBe(15 + 8 + 20);
  expect(store.stats().retained).toBe(43);

  const all = async (room: string) => offsets(await store.read(room, { since: 0, limit: 1000 }));
  expect(await all("count:a")).toEqual([16, 17, 18, 19, 20]);
  expect(await all("age:b")).toEqual(Array.from({ length: 12 }, (_, k) => k + 9));
  expect(await all("none:c")).toEqual([]);
  expect(await all("keep:d")).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
  for (const room of rooms) {
    expect(await store.room(room)).toEqual({ offset: 20, epoch: epochs.get(room) as string });
  }
  expect((await store.room("empty:e")).offset).toBe(0);

  expect(await store.retain()).toBe(0);
  await store.close();
});

test("retention removes rows of an older epoch above a sequence that started again lower", async () => {
  const store = await openStore(historyConfig(tmp.dir), { retentionOf: byNamespace });
  const { epoch } = await store.room("keep:r");
  for (let i = 1; i <= 10; i++) store.append(msg("keep:r", i, epoch));
  await store.flush();
  for (let i = 1; i <= 3; i++) store.append(msg("keep:r", i, "EPOCH-2"));
  await store.flush();
  expect(await store.retain()).toBe(7);
  const page = await store.read("keep:r", { since: 0, limit: 100 });
  expect(page.map((m) => [m.offset, m.epoch])).toEqual([
    [1, "EPOCH-2"],
    [2, "EPOCH-2"],
    [3, "EPOCH-2"],
  ]);
  await store.close();
});

test("rows of an earlier epoch below the room's sequence stay until size or age removes them", async () => {
  const store = await openStore(historyConfig(tmp.dir), { retentionOf: byNamespace });
  const { epoch } = await store.room("keep:old");
  for (let i = 1; i <= 10; i++) store.append(msg("keep:old", i, epoch));
  await store.flush();
  for (let i = 11; i <= 12; i++) store.append(msg("keep:old", i, "EPOCH-2"));
  await store.flush();
  expect(await store.retain()).toBe(0);
  const page = await store.read("keep:old", { since: 0, limit: 100 });
  expect(page.map((m) => m.epoch)).toEqual([...Array(10).fill(epoch), "EPOCH-2", "EPOCH-2"]);
  await store.close();
});

test("retention trims large rooms in batches and runs by itself on its interval", async () => {
  const store = await openStore(historyConfig(tmp.dir, { retentionIntervalSeconds: 1 }), {
    retentionOf: byNamespace,
  });
  const { epoch } = await store.room("count:big");
  for (let i = 1; i <= 2605; i++) store.append(msg("count:big", i, epoch));
  await store.flush();
  await until(() => store.stats().retained === 2600, { timeoutMs: 5000, what: "retention" });
  expect(offsets(await store.read("count:big", { since: 0, limit: 5000 }))).toEqual([
    2601, 2602, 2603, 2604, 2605,
  ]);
  await store.close();
});
