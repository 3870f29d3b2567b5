import { afterEach, beforeEach, expect, test } from "bun:test";
import { MemoryBroker } from "../../src/broker/memory.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { HistoryStore } from "../../src/history/types.ts";
import { silentLogger } from "../../src/log.ts";
import { Local, Sink } from "../cluster/harness.ts";
import { historyConfig, openStore, tempDir } from "../history/fixtures.ts";
import { until } from "../support/wait.ts";

let tmp: ReturnType<typeof tempDir>;
let store: HistoryStore;
let broker: MemoryBroker;

beforeEach(async () => {
  tmp = tempDir();
  store = await openStore(historyConfig(tmp.dir, { flushMs: 60_000 }));
  broker = new MemoryBroker({ idleMs: 30, pruneEveryMs: 10 });
  await broker.start({
    config: loadConfig({ env: {} }),
    node: "n",
    region: "r",
    startedAt: new Date().toISOString(),
    store,
    local: new Local(),
    sink: new Sink(),
    log: silentLogger,
  });
});

afterEach(async () => {
  await broker.close();
  await store.close();
  tmp.remove();
});

test("an idle room's position is dropped and read again from the store, unwritten rows included", async () => {
  const first = [];
  for (let i = 0; i < 3; i++) {
    const m = await broker.publish({ room: "idle:r", data: i });
    store.append(m); // what the node does with every message it assigns
    first.push(m);
  }
  expect(broker.tracked).toBe(1);
  await until(() => broker.tracked === 0, { what: "the idle room dropped" });
  // Nothing is written yet (flushMs is a minute): the store's queue still counts.
  expect(store.pending()).toBe(3);
  const next = await broker.publish({ room: "idle:r", data: 3 });
  expect(next).toMatchObject({ offset: 4, epoch: first[0]?.epoch });
  expect(broker.tracked).toBe(1);
});
