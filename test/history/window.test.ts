import { describe, expect, test } from "bun:test";
import { MemoryWindow } from "../../src/history/window.ts";
import type { Message } from "../../src/protocol/frames.ts";
import { TestClient } from "../support/client.ts";
import { spawnNode } from "../support/node.ts";

const msg = (room: string, offset: number, epoch = "e1"): Message => ({
  room,
  offset,
  epoch,
  data: offset,
  ts: 0,
});

describe("memory window", () => {
  test("keeps a contiguous run per room and answers ranges it holds", () => {
    const w = new MemoryWindow({ maxRooms: 10, capacityOf: () => 3 });
    for (let i = 1; i <= 7; i++) w.add(msg("r", i), 10);
    expect(w.range("r", "e1", 4, 7)?.map((m) => m.offset)).toEqual([5, 6, 7]);
    expect(w.range("r", "e1", 3, 7)).toBeUndefined();
    expect(w.range("r", "e2", 6, 7)).toBeUndefined();
    expect(w.last("r")).toEqual({ offset: 7, epoch: "e1" });
  });

  test("counts bytes through trimming, restarts and forgetting", () => {
    const w = new MemoryWindow({ maxRooms: 10, capacityOf: () => 2 });
    for (let i = 1; i <= 4; i++) w.add(msg("r", i), 100);
    // Four held (trimmed at twice the capacity), then a fifth trims back to two.
    expect(w.bytes).toBe(400);
    w.add(msg("r", 5), 100);
    expect(w.bytes).toBe(200);
    w.add(msg("r", 9), 50); // not contiguous: the ring starts anew
    expect(w.bytes).toBe(50);
    w.add(msg("s", 1), 30);
    w.forget("r");
    expect(w.bytes).toBe(30);
    expect(w.rooms).toBe(1);
  });

  test("over its byte budget it forgets the least recently written rooms first", () => {
    const w = new MemoryWindow({ maxRooms: 10, maxBytes: 1000, capacityOf: () => 100 });
    for (let i = 1; i <= 3; i++) w.add(msg("a", i), 200); // 600
    for (let i = 1; i <= 2; i++) w.add(msg("b", i), 200); // 1000
    w.add(msg("a", 4), 200); // a is now the most recent; 1200 > 1000: b goes
    expect(w.last("b")).toBeUndefined();
    expect(w.last("a")).toEqual({ offset: 4, epoch: "e1" });
    expect(w.bytes).toBe(800);
    w.add(msg("c", 1), 300); // 1100: a (least recent) goes, c stays
    expect(w.last("a")).toBeUndefined();
    expect(w.bytes).toBe(300);
    // A single message larger than the whole budget is not kept at all.
    w.add(msg("d", 1), 5000);
    expect(w.rooms).toBe(0);
    expect(w.bytes).toBe(0);
  });

  test("past maxRooms the least recently written room goes", () => {
    const w = new MemoryWindow({ maxRooms: 2, capacityOf: () => 10 });
    w.add(msg("a", 1), 1);
    w.add(msg("b", 1), 1);
    w.add(msg("a", 2), 1);
    w.add(msg("c", 1), 1);
    expect(w.last("b")).toBeUndefined();
    expect(w.last("a")?.offset).toBe(2);
    expect(w.bytes).toBe(3);
  });
});

describe("a node with a small memory window budget", () => {
  test("stays within it and still answers history and recovery from the store", async () => {
    const node = await spawnNode({ config: "history:\n  memoryWindowBytes: 20000\n" });
    try {
      const big = "z".repeat(1500);
      for (const room of ["wa", "wb", "wc"]) {
        for (let i = 1; i <= 10; i++) {
          await node.api("/v1/publish", { body: { room, data: { i, big } } });
        }
      }
      const metrics = await (await node.api("/metrics")).text();
      const held = Number(metrics.match(/^edgepush_window_bytes (\d+)$/m)?.[1]);
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(20000);
      const c = await TestClient.connect(node.ws, "reader");
      for (const room of ["wa", "wb", "wc"]) {
        const page = await c.request({ type: "history", room, since: 0 });
        expect(page.messages.map((m: { offset: number }) => m.offset)).toEqual([
          1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ]);
      }
      const sub = await c.request({
        type: "subscribe",
        room: "wa",
        since: { offset: 2, epoch: (await c.request({ type: "history", room: "wa" })).epoch },
      });
      expect(sub).toMatchObject({ type: "subscribed", recovered: true, offset: 10 });
      const replay = await c.take(8, (f) => f.type === "message" && f.room === "wa");
      expect(replay.map((m) => m.offset)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
      c.close();
    } finally {
      await node.kill();
    }
  });
});
