import { describe, expect, test } from "bun:test";
import { decodeProtectedHeader } from "jose";
import { createVerifier } from "../../src/auth/jwt.ts";
import { mintToken, parseDuration } from "../../src/auth/mint.ts";
import { authConfig, SECRET } from "./fixtures.ts";

describe("edgepush token", () => {
  test("a minted token verifies with the same config and carries its user, rooms and lifetime", async () => {
    const auth = authConfig({ secret: SECRET, issuer: "edgepush", audience: "clients" });
    const token = await mintToken(auth, { sub: "alice", ttlSeconds: 900, rooms: ["chat:*"] });
    const result = await createVerifier(auth).verify(token);
    if (!result.ok) throw new Error(result.reason);
    expect(result.identity.user).toBe("alice");
    expect(result.identity.rooms("chat:lobby")).toBe(true);
    expect(result.identity.rooms("news:today")).toBe(false);
    expect(result.identity.claims).toMatchObject({ iss: "edgepush", aud: "clients" });
    const exp = result.identity.exp ?? 0;
    const expected = Math.floor(Date.now() / 1000) + 900;
    expect(Math.abs(exp - expected)).toBeLessThanOrEqual(2);
  });

  test("a minted token expires after its lifetime", async () => {
    const auth = authConfig({ secret: SECRET, clockToleranceSeconds: 0 });
    const token = await mintToken(auth, { sub: "bob", ttlSeconds: 60 });
    const later = createVerifier(auth, { now: () => Date.now() + 61_000 });
    expect(await later.verify(token)).toEqual({
      ok: false,
      expired: true,
      reason: "token expired",
    });
  });

  test("tokens are signed with the first HS algorithm allowed, HS256 when none is", async () => {
    const hs512 = authConfig({ secret: SECRET, algorithms: ["RS256", "HS512", "HS256"] });
    const token = await mintToken(hs512, { sub: "a", ttlSeconds: 60 });
    expect(decodeProtectedHeader(token).alg).toBe("HS512");
    const rsOnly = authConfig({ secret: SECRET, algorithms: ["RS256"] });
    const fallback = await mintToken(rsOnly, { sub: "a", ttlSeconds: 60 });
    expect(decodeProtectedHeader(fallback).alg).toBe("HS256");
  });

  test("minting without a secret fails with a message naming auth.secret", async () => {
    const auth = authConfig({ secret: "" });
    await expect(mintToken(auth, { sub: "a", ttlSeconds: 60 })).rejects.toThrow("auth.secret");
  });

  test("minting with an empty user or a lifetime that is not positive fails", async () => {
    const auth = authConfig({ secret: SECRET });
    await expect(mintToken(auth, { sub: "", ttlSeconds: 60 })).rejects.toThrow("sub");
    await expect(mintToken(auth, { sub: "a", ttlSeconds: 0 })).rejects.toThrow("lifetime");
    await expect(mintToken(auth, { sub: "a", ttlSeconds: 1.5 })).rejects.toThrow("lifetime");
  });
});

describe("durations", () => {
  test("a number of seconds, minutes, hours or days reads as seconds", () => {
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("15m")).toBe(900);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("7d")).toBe(604_800);
    expect(parseDuration(" 2h ")).toBe(7200);
  });

  test("anything else fails with a message showing what is accepted", () => {
    for (const text of ["", "h", "1.5h", "-5m", "0", "0s", "10w", "1h30m", "1 h", "1H", "1e3"]) {
      expect(() => parseDuration(text)).toThrow("expected a positive whole number");
    }
    expect(() => parseDuration("9".repeat(30))).toThrow("expected a positive whole number");
  });
});
