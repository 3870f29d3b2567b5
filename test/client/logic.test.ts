import { describe, expect, test } from "bun:test";
import { backoffDelay, closeAction, reconnectDelay } from "../../src/client/backoff.ts";
import { EdgepushClient } from "../../src/client/client.ts";
import { Cursor } from "../../src/client/cursor.ts";
import { refreshDelay, tokenExpiry } from "../../src/client/token.ts";
import { tokenFor } from "../support/client.ts";

const msg = (offset: number, epoch = "e1") => ({ room: "r", offset, epoch, data: offset, ts: 0 });

describe("backoff", () => {
  test("full jitter stays within an exponential window that stops at the cap", () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, opts, () => 0.999)).toBe(99);
    expect(backoffDelay(3, opts, () => 0.999)).toBe(799);
    expect(backoffDelay(10, opts, () => 0.999)).toBe(999);
    expect(backoffDelay(10, opts, () => 0)).toBe(0);
  });

  test("close codes map to PROTOCOL.md's client actions", () => {
    expect([1000, 4001, 4003].map(closeAction)).toEqual(["stop", "stop", "stop"]);
    expect(closeAction(4004)).toBe("refresh");
    expect([1012, 4008, 4009].map(closeAction)).toEqual(["now", "now", "now"]);
    expect([1006, 1008, 1009, 1011, 1013, 4029].map(closeAction)).toEqual(Array(6).fill("backoff"));
  });

  test("1012 reconnects at once the first time, then backs off; 1013 always waits", () => {
    expect(reconnectDelay(1012, 0)).toBe(0);
    expect(reconnectDelay(1013, 0, { baseMs: 200 })).toBeGreaterThanOrEqual(200);
    expect(reconnectDelay(4029, 0, { baseMs: 200 })).toBeGreaterThanOrEqual(200);
    const later = Array.from({ length: 50 }, () => reconnectDelay(1012, 4, { baseMs: 100 }));
    expect(Math.max(...later)).toBeGreaterThan(0);
  });
});

describe("token expiry", () => {
  test("exp is read from the JWT payload", async () => {
    const token = await tokenFor("alice", { ttlSeconds: 120 });
    const exp = tokenExpiry(token);
    expect(exp).toBeGreaterThan(Date.now() / 1000 + 110);
    expect(tokenExpiry("not-a-jwt")).toBeUndefined();
  });

  test("a refresh is scheduled before expiry: a quarter of the time left, at most 30 s", () => {
    const now = 1_000_000_000_000;
    expect(refreshDelay(now / 1000 + 8, now)).toBe(6000);
    expect(refreshDelay(now / 1000 + 3600, now)).toBe(3_570_000);
    expect(refreshDelay(now / 1000 - 5, now)).toBe(0);
    expect(refreshDelay(undefined, now)).toBeUndefined();
  });
});

describe("deduplication", () => {
  test("a cursor lets each offset through once and in order", () => {
    const c = new Cursor();
    expect([1, 2, 2, 1, 3].map((o) => c.accept(msg(o)))).toEqual([true, true, false, false, true]);
    expect(c.position).toEqual({ offset: 3, epoch: "e1" });
  });

  test("a new epoch starts over", () => {
    const c = new Cursor({ offset: 10, epoch: "e1" });
    expect(c.accept(msg(1, "e2"))).toBe(true);
    expect(c.accept(msg(1, "e2"))).toBe(false);
  });
});

describe("a URL that cannot be opened", () => {
  test("stops the client with an error instead of retrying", async () => {
    const client = new EdgepushClient({ url: "not a url", token: "t" });
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    const err = await client.connect().catch((e: { code: string }) => e.code);
    expect(err).toBe("unavailable");
    expect(errors).toEqual(["bad_request"]);
    expect(client.state).toBe("disconnected");
  });
});
