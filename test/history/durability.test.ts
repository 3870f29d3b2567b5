import { afterEach, beforeEach, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import type { Position } from "../../src/protocol/frames.ts";
import { historyConfig, msg, offsets, openStore, recordingLogger, tempDir } from "./fixtures.ts";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

/** Offset counters seeded from the store, as a single-node broker keeps them. */
function counters(room: (name: string) => Promise<Position>) {
  const seeded = new Map<string, Promise<Position>>();
  return async (name: string): Promise<Position> => {
    let p = seeded.get(name);
    if (!p) {
      p = room(name);
      seeded.set(name, p);
    }
    const pos = await p;
    pos.offset++;
    return { offset: pos.offset, epoch: pos.epoch };
  };
}

test("10,000 messages from concurrent publishers across 50 rooms: no offset missing or repeated", async () => {
  const store = await openStore(historyConfig(tmp.dir, { batchSize: 200, flushMs: 5 }));
  const next = counters((r) => store.room(r));
  const rooms = Array.from({ length: 50 }, (_, i) => `chat:room-${i}`);
  const perPublisher = 500;
  let gapsSeen = 0;
  const publisher = async (id: number) => {
    for (let i = 0; i < perPublisher; i++) {
      const room = rooms[(id * 7 + i * 13) % rooms.length] as string;
      const pos = await next(room);
      store.append(msg(room, pos.offset, pos.epoch));
      if (i % 50 === 0) {
        const page = await store.read(room, { since: 0, limit: 100_000 });
        const seen = offsets(page);
        if (seen.some((o, k) => o !== k + 1) || (seen.at(-1) ?? 0) < pos.offset) gapsSeen++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  };
  await Promise.all(Array.from({ length: 20 }, (_, id) => publisher(id)));
  await store.flush();
  expect(gapsSeen).toBe(0);
  expect(store.stats()).toMatchObject({ written: 10_000, pending: 0, failures: 0 });

  let total = 0;
  for (const room of rooms) {
    const page = await store.read(room, { since: 0, limit: 100_000 });
    const seen = offsets(page);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, k) => k + 1));
    expect((await store.room(room)).offset).toBe(seen.length);
    total += seen.length;
  }
  expect(total).toBe(10_000);
  await store.close();
});

test("positions, epochs and messages survive close and reopen", async () => {
  const config = historyConfig(tmp.dir);
  const first = await openStore(config);
  const a = await first.room("a");
  const b = await first.room("b");
  for (let i = 1; i <= 30; i++) first.append(msg("a", i, a.epoch));
  first.append(msg("b", 1, b.epoch));
  await first.close();
  expect(first.pending()).toBe(0);

  const second = await openStore(config);
  expect(await second.room("a")).toEqual({ offset: 30, epoch: a.epoch });
  expect(await second.room("b")).toEqual({ offset: 1, epoch: b.epoch });
  second.append(msg("a", 31, a.epoch));
  expect(offsets(await second.read("a", { since: 27, limit: 10 }))).toEqual([28, 29, 30, 31]);
  await second.close();

  const third = await openStore(config);
  expect(await third.room("a")).toEqual({ offset: 31, epoch: a.epoch });
  const [only] = await third.read("b", { limit: 10 });
  expect(only).toEqual(msg("b", 1, b.epoch, only?.ts));
  await third.close();
});

test("a message at an offset of an older epoch replaces the old one and moves the room", async () => {
  const store = await openStore(historyConfig(tmp.dir));
  const old = await store.room("r");
  for (let i = 1; i <= 5; i++) store.append(msg("r", i, old.epoch));
  await store.flush();
  store.append(msg("r", 1, "NEWEPOCH"));
  expect(await store.room("r")).toEqual({ offset: 1, epoch: "NEWEPOCH" });
  await store.flush();
  expect(await store.room("r")).toEqual({ offset: 1, epoch: "NEWEPOCH" });
  const page = await store.read("r", { since: 0, limit: 1 });
  expect(page[0]?.epoch).toBe("NEWEPOCH");
  await store.close();
});

/** Publishes in `room` every few milliseconds for `ms`, as the broker does: reserve, then append. */
async function steadyPublishes(
  store: Awaited<ReturnType<typeof openStore>>,
  room: string,
  ms: number,
) {
  const pos = await store.room(room);
  let offset = pos.offset;
  let held = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const reserving = store.reserve(room);
    if (reserving) {
      held++;
      await reserving;
    }
    store.append(msg(room, ++offset, pos.epoch));
    await Bun.sleep(5);
  }
  return { epoch: pos.epoch, offset, held };
}

test("a room in steady use is marked once, stays marked across batches, and is cleared once quiet", async () => {
  const store = await openStore(historyConfig(tmp.dir, { flushMs: 5 }));
  const run = await steadyPublishes(store, "busy", 600);
  await store.flush();
  // Dozens of batches were written meanwhile; only the first publish waited for a mark.
  expect(run.held).toBe(1);
  expect(store.stats().dirty).toBe(1);
  const deadline = Date.now() + 5000;
  while (store.stats().dirty > 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(store.stats().dirty).toBe(0);
  await store.close();
});

test("a clean close clears a room's mark without waiting for it to be quiet", async () => {
  const config = historyConfig(tmp.dir, { flushMs: 5 });
  const first = await openStore(config);
  const run = await steadyPublishes(first, "busy", 100);
  expect(first.stats().dirty).toBe(1);
  await first.close();
  const second = await openStore(config);
  // A room still marked would have been given a new epoch on open.
  expect(await second.room("busy")).toEqual({ offset: run.offset, epoch: run.epoch });
  await second.close();
});

/** Holds the database file's write lock from another connection until the returned release. */
async function holdWriteLock(url: string): Promise<() => Promise<void>> {
  const other = createClient({ url });
  const tx = await other.transaction("write");
  return async () => {
    await tx.rollback();
    other.close();
  };
}

test("a clear refused by another connection's write lock leaves the room marked and is tried again", async () => {
  const config = historyConfig(tmp.dir, { flushMs: 5 });
  const log = recordingLogger();
  const store = await openStore(config, { log });
  const run = await steadyPublishes(store, "z", 50);
  await store.flush();
  const release = await holdWriteLock(config.url);
  // The room goes quiet while the lock is held: its clear fails, and the mark stays.
  const failed = () => log.lines.some((l) => l.event === "clearing dirty rooms failed");
  const until = Date.now() + 5000;
  while (!failed() && Date.now() < until) await Bun.sleep(50);
  expect(failed()).toBe(true);
  expect(store.stats().dirty).toBe(1);
  await release();
  const deadline = Date.now() + 5000;
  while (store.stats().dirty > 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(store.stats().dirty).toBe(0);
  await store.close();
  const again = await openStore(config);
  expect(await again.room("z")).toEqual({ offset: run.offset, epoch: run.epoch });
  await again.close();
});

test("a clean close retries a clear refused by a write lock held for a moment", async () => {
  const config = historyConfig(tmp.dir, { flushMs: 5 });
  const store = await openStore(config);
  const run = await steadyPublishes(store, "z", 50);
  await store.flush();
  const release = await holdWriteLock(config.url);
  setTimeout(() => void release(), 150);
  await store.close();
  const again = await openStore(config);
  expect(await again.room("z")).toEqual({ offset: run.offset, epoch: run.epoch });
  await again.close();
});
