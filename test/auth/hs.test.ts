import { describe, expect, test } from "bun:test";
import { createVerifier, type VerifyResult } from "../../src/auth/jwt.ts";
import { authConfig, claims, enc, NOW, now, SECRET, sign, unsigned } from "./fixtures.ts";

const key = enc.encode(SECRET);
const verifier = createVerifier(authConfig({ secret: SECRET }), { now });

function rejected(result: VerifyResult): { expired: boolean; reason: string } {
  if (result.ok) throw new Error(`expected a rejection, got user ${result.identity.user}`);
  return { expired: result.expired, reason: result.reason };
}

describe("a shared-secret token", () => {
  test("signed with HS256 and the configured secret identifies its user", async () => {
    const result = await verifier.verify(await sign(claims(), key));
    if (!result.ok) throw new Error(result.reason);
    expect(result.identity.user).toBe("alice");
    expect(result.identity.exp).toBe(NOW + 3600);
    expect(result.identity.claims.iat).toBe(NOW - 60);
  });

  test("signed with HS384 or HS512 verifies when those algorithms are allowed", async () => {
    const all = createVerifier(
      authConfig({ secret: SECRET, algorithms: ["HS256", "HS384", "HS512"] }),
      { now },
    );
    for (const alg of ["HS384", "HS512"]) {
      const result = await all.verify(await sign(claims({ sub: alg }), key, { alg }));
      expect(result).toMatchObject({ ok: true, identity: { user: alg } });
    }
  });

  test("signed with an algorithm the config does not allow is refused", async () => {
    const result = await verifier.verify(await sign(claims(), key, { alg: "HS512" }));
    expect(rejected(result)).toEqual({ expired: false, reason: "alg HS512 not allowed" });
  });

  test("signed with another secret is refused as a bad signature", async () => {
    const token = await sign(claims(), enc.encode("another-secret-of-the-same-length-000000"));
    expect(rejected(await verifier.verify(token))).toEqual({
      expired: false,
      reason: "bad signature",
    });
  });

  test("whose signature was altered is refused", async () => {
    const [head, body, sig = ""] = (await sign(claims(), key)).split(".");
    const altered = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
    const result = await verifier.verify(`${head}.${body}.${altered}`);
    expect(rejected(result)).toEqual({ expired: false, reason: "bad signature" });
  });

  test("whose payload was changed after signing is refused", async () => {
    const [head, , sig] = (await sign(claims(), key)).split(".");
    const body = Buffer.from(JSON.stringify(claims({ sub: "mallory" }))).toString("base64url");
    const result = await verifier.verify(`${head}.${body}.${sig}`);
    expect(rejected(result)).toEqual({ expired: false, reason: "bad signature" });
  });
});

describe("alg none", () => {
  test("an unsigned token is refused even though its claims are fine", async () => {
    const result = await verifier.verify(unsigned({ alg: "none", typ: "JWT" }, claims()));
    expect(rejected(result)).toEqual({ expired: false, reason: 'alg "none" is never accepted' });
  });

  test("an unsigned token is refused in any letter case", async () => {
    const result = await verifier.verify(unsigned({ alg: "NoNe" }, claims()));
    expect(rejected(result).reason).toBe('alg "none" is never accepted');
  });
});

describe("token lifetime", () => {
  test("a correctly signed token past its exp is reported as expired", async () => {
    const token = await sign(claims({ exp: NOW - 60 }), key);
    expect(rejected(await verifier.verify(token))).toEqual({
      expired: true,
      reason: "token expired",
    });
  });

  test("a token that expired within the clock tolerance is still accepted", async () => {
    const token = await sign(claims({ exp: NOW - 1 }), key);
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  test("an expired token with a wrong signature is not reported as expired", async () => {
    const token = await sign(claims({ exp: NOW - 60 }), enc.encode("wrong-secret-wrong-secret"));
    expect(rejected(await verifier.verify(token))).toEqual({
      expired: false,
      reason: "bad signature",
    });
  });

  test("an expired token that fails another check is not reported as expired", async () => {
    const strict = createVerifier(authConfig({ secret: SECRET, issuer: "edgepush" }), { now });
    const wrongIss = await sign(claims({ exp: NOW - 60, iss: "someone-else" }), key);
    expect(rejected(await strict.verify(wrongIss))).toEqual({
      expired: false,
      reason: "wrong issuer",
    });
    const noSub = await sign(claims({ exp: NOW - 60, sub: undefined }), key);
    expect(rejected(await verifier.verify(noSub)).expired).toBe(false);
    const badRooms = await sign(claims({ exp: NOW - 60, rooms: "chat:*" }), key);
    expect(rejected(await verifier.verify(badRooms))).toEqual({
      expired: false,
      reason: "rooms claim must be an array of strings",
    });
  });

  test("a token before its nbf is refused as not yet valid", async () => {
    const token = await sign(claims({ nbf: NOW + 60 }), key);
    expect(rejected(await verifier.verify(token))).toEqual({
      expired: false,
      reason: "token not yet valid (nbf)",
    });
  });

  test("a token whose nbf is within the clock tolerance is accepted", async () => {
    const token = await sign(claims({ nbf: NOW + 1 }), key);
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  test("a token without exp is refused unless the config allows it", async () => {
    const token = await sign(claims({ exp: undefined }), key);
    expect(rejected(await verifier.verify(token))).toEqual({
      expired: false,
      reason: "missing exp",
    });
    const lenient = createVerifier(authConfig({ secret: SECRET, requireExp: false }), { now });
    const result = await lenient.verify(token);
    expect(result).toMatchObject({ ok: true, identity: { user: "alice" } });
    expect(result.ok && result.identity.exp).toBeUndefined();
  });

  test("with exp optional, a present exp is still enforced", async () => {
    const lenient = createVerifier(authConfig({ secret: SECRET, requireExp: false }), { now });
    const token = await sign(claims({ exp: NOW - 60 }), key);
    expect(rejected(await lenient.verify(token)).expired).toBe(true);
  });

  test("an exp that is not a number is refused", async () => {
    const token = await sign(claims({ exp: "tomorrow" as unknown as number }), key);
    expect(rejected(await verifier.verify(token)).expired).toBe(false);
  });
});

describe("issuer and audience", () => {
  const strict = createVerifier(
    authConfig({ secret: SECRET, issuer: "https://auth.example", audience: "edgepush" }),
    { now },
  );
  const good = { iss: "https://auth.example", aud: "edgepush" };

  test("a token with the configured iss and aud is accepted", async () => {
    const token = await sign(claims(good), key);
    expect((await strict.verify(token)).ok).toBe(true);
    const listed = await sign(claims({ ...good, aud: ["other", "edgepush"] }), key);
    expect((await strict.verify(listed)).ok).toBe(true);
  });

  test("a token from another issuer is refused", async () => {
    const token = await sign(claims({ ...good, iss: "https://evil.example" }), key);
    expect(rejected(await strict.verify(token))).toEqual({
      expired: false,
      reason: "wrong issuer",
    });
  });

  test("a token for another audience is refused", async () => {
    const token = await sign(claims({ ...good, aud: "billing" }), key);
    expect(rejected(await strict.verify(token))).toEqual({
      expired: false,
      reason: "wrong audience",
    });
  });

  test("a token without iss or aud is refused when they are configured", async () => {
    const noIss = await sign(claims({ aud: "edgepush" }), key);
    expect(rejected(await strict.verify(noIss)).reason).toBe("missing iss");
    const noAud = await sign(claims({ iss: "https://auth.example" }), key);
    expect(rejected(await strict.verify(noAud)).reason).toBe("missing aud");
  });

  test("iss and aud are not checked when the config leaves them empty", async () => {
    const token = await sign(claims({ iss: "anyone", aud: "anything" }), key);
    expect((await verifier.verify(token)).ok).toBe(true);
  });
});

describe("sub and rooms claims", () => {
  test("a token without sub is refused", async () => {
    const token = await sign(claims({ sub: undefined }), key);
    expect(rejected(await verifier.verify(token))).toEqual({
      expired: false,
      reason: "missing sub",
    });
  });

  test("a token whose sub is empty or not a string is refused", async () => {
    for (const sub of ["", 42, ["alice"]]) {
      const token = await sign(claims({ sub: sub as string }), key);
      expect(rejected(await verifier.verify(token)).expired).toBe(false);
    }
  });

  test("a token whose sub is not a valid user id is refused, naming the rule", async () => {
    for (const sub of [
      "x\ud800",
      "x\udfff",
      "a".repeat(257),
      "tab\there",
      "nul\u0000",
      "c1\u0085",
    ]) {
      const token = await sign(claims({ sub }), key);
      expect(rejected(await verifier.verify(token)).reason).toContain("sub is not a valid user id");
    }
    for (const sub of ["a".repeat(256), "émilie", "x\uFFFD", "user@example.com", "🦊"]) {
      const result = await verifier.verify(await sign(claims({ sub }), key));
      expect(result.ok).toBe(true);
    }
  });

  test("the rooms claim grants exactly the rooms its patterns match", async () => {
    const token = await sign(claims({ rooms: ["chat:*", "team:acme/general"] }), key);
    const result = await verifier.verify(token);
    if (!result.ok) throw new Error(result.reason);
    expect(result.identity.rooms("chat:lobby")).toBe(true);
    expect(result.identity.rooms("team:acme/general")).toBe(true);
    expect(result.identity.rooms("team:acme/random")).toBe(false);
    expect(result.identity.rooms("news:today")).toBe(false);
  });

  test("a token without a rooms claim grants no token-protected room", async () => {
    const result = await verifier.verify(await sign(claims(), key));
    if (!result.ok) throw new Error(result.reason);
    expect(result.identity.rooms("chat:lobby")).toBe(false);
    expect(result.identity.rooms("")).toBe(false);
  });

  test("a rooms claim that is not an array of strings is refused", async () => {
    for (const rooms of ["chat:*", [1, 2], ["chat:*", null], { chat: true }]) {
      const token = await sign(claims({ rooms }), key);
      expect(rejected(await verifier.verify(token))).toEqual({
        expired: false,
        reason: "rooms claim must be an array of strings",
      });
    }
  });
});

describe("malformed tokens", () => {
  test("strings that are not a compact JWT are refused without throwing", async () => {
    const header = Buffer.from('{"alg":"HS256"}').toString("base64url");
    const cases = [
      "",
      "abc",
      "a.b",
      "a.b.c",
      "a.b.c.d.e",
      `${header}.!!!.sig`,
      `${Buffer.from("not json").toString("base64url")}.e30.sig`,
      unsigned({ typ: "JWT" }, claims()),
      unsigned({ alg: 256 }, claims()),
    ];
    for (const token of cases) {
      const result = rejected(await verifier.verify(token));
      expect(result.expired).toBe(false);
      expect(result.reason).not.toContain(token || "\u0000");
    }
  });

  test("a payload that is not JSON is refused", async () => {
    const header = Buffer.from('{"alg":"HS256"}').toString("base64url");
    const body = Buffer.from("hello").toString("base64url");
    const data = enc.encode(`${header}.${body}`);
    const hmac = await crypto.subtle.importKey(
      "raw",
      key,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const sig = Buffer.from(await crypto.subtle.sign("HMAC", hmac, data)).toString("base64url");
    const result = rejected(await verifier.verify(`${header}.${body}.${sig}`));
    expect(result).toEqual({ expired: false, reason: "malformed token" });
  });

  test("an oversized token is refused before it is parsed", async () => {
    const token = await sign(claims({ pad: "x".repeat(20_000) }), key);
    expect(rejected(await verifier.verify(token)).reason).toBe("token too long");
  });
});
