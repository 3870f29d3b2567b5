import { expect, test } from "bun:test";
import { Registry } from "../../src/server/registry.ts";

test("recent disconnects are remembered up to 10,000, the oldest forgotten first", () => {
  const registry = new Registry();
  for (let i = 0; i < 30_000; i++) registry.disconnect(`u${i}`, 4003, "bye");
  expect(registry.disconnectedSince("u0", 0)).toBeUndefined();
  expect(registry.disconnectedSince("u19999", 0)).toBeUndefined();
  expect(registry.disconnectedSince("u20000", 0)).toMatchObject({ code: 4003, reason: "bye" });
  expect(registry.disconnectedSince("u29999", 0)).toMatchObject({ code: 4003, reason: "bye" });
  // A user disconnected again is remembered as new: it outlives those made before it.
  registry.disconnect("u20000", 4100, "again");
  for (let i = 0; i < 9_999; i++) registry.disconnect(`v${i}`, 4003, "bye");
  expect(registry.disconnectedSince("u20000", 0)).toMatchObject({ code: 4100, reason: "again" });
  expect(registry.disconnectedSince("u20001", 0)).toBeUndefined();
});

test("a disconnect made before a given moment is not reported for it", () => {
  const registry = new Registry();
  registry.disconnect("alice", 4003, "bye");
  const later = performance.now() + 1;
  expect(registry.disconnectedSince("alice", later)).toBeUndefined();
  expect(registry.disconnectedSince("bob", 0)).toBeUndefined();
});
