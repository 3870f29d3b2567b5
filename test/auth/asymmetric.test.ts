import { beforeAll, describe, expect, test } from "bun:test";
import { type CryptoKey, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8 } from "jose";
import { createVerifier, type TokenVerifier } from "../../src/auth/jwt.ts";
import { authConfig, claims, enc, now, SECRET, sign } from "./fixtures.ts";

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };

let rsa: Pair;
let ec: Pair;
let rsaPem: string;
let ecPem: string;

beforeAll(async () => {
  rsa = await generateKeyPair("RS256", { extractable: true });
  ec = await generateKeyPair("ES256", { extractable: true });
  rsaPem = await exportSPKI(rsa.publicKey);
  ecPem = await exportSPKI(ec.publicKey);
});

describe("a token signed with a private key", () => {
  test("RS256 verifies against the configured PEM public key", async () => {
    const verifier = createVerifier(authConfig({ publicKey: rsaPem, algorithms: ["RS256"] }), {
      now,
    });
    const token = await sign(claims({ sub: "rsa-user" }), rsa.privateKey, { alg: "RS256" });
    expect(await verifier.verify(token)).toMatchObject({
      ok: true,
      identity: { user: "rsa-user" },
    });
  });

  test("PS256 verifies against the same RSA public key when allowed", async () => {
    const verifier = createVerifier(
      authConfig({ publicKey: rsaPem, algorithms: ["RS256", "PS256"] }),
      { now },
    );
    const pss = await importPKCS8(await exportPKCS8(rsa.privateKey), "PS256");
    const token = await sign(claims(), pss, { alg: "PS256" });
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  test("ES256 verifies against the configured PEM public key", async () => {
    const verifier = createVerifier(authConfig({ publicKey: ecPem, algorithms: ["ES256"] }), {
      now,
    });
    const token = await sign(claims({ sub: "ec-user" }), ec.privateKey, { alg: "ES256" });
    expect(await verifier.verify(token)).toMatchObject({ ok: true, identity: { user: "ec-user" } });
  });

  test("a PEM key with literal \\n sequences, as env variables carry it, works", async () => {
    const flat = ecPem.trim().replaceAll("\n", "\\n");
    const verifier = createVerifier(authConfig({ publicKey: flat, algorithms: ["ES256"] }), {
      now,
    });
    const token = await sign(claims(), ec.privateKey, { alg: "ES256" });
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  test("signed with another private key is refused as a bad signature", async () => {
    const other = await generateKeyPair("ES256");
    const verifier = createVerifier(authConfig({ publicKey: ecPem, algorithms: ["ES256"] }), {
      now,
    });
    const token = await sign(claims(), other.privateKey, { alg: "ES256" });
    expect(await verifier.verify(token)).toEqual({
      ok: false,
      expired: false,
      reason: "bad signature",
    });
  });

  test("an expired RS256 token is reported as expired", async () => {
    const verifier = createVerifier(authConfig({ publicKey: rsaPem, algorithms: ["RS256"] }), {
      now,
    });
    const token = await sign(claims({ exp: Math.floor(now() / 1000) - 600 }), rsa.privateKey, {
      alg: "RS256",
    });
    expect(await verifier.verify(token)).toEqual({
      ok: false,
      expired: true,
      reason: "token expired",
    });
  });
});

describe("algorithm confusion", () => {
  let rsOnly: TokenVerifier;
  beforeAll(() => {
    rsOnly = createVerifier(
      authConfig({ secret: SECRET, publicKey: rsaPem, algorithms: ["RS256"] }),
      { now },
    );
  });

  test("an HS256 token is refused where only RS256 is allowed, even with a secret set", async () => {
    const token = await sign(claims(), enc.encode(SECRET), { alg: "HS256" });
    expect(await rsOnly.verify(token)).toEqual({
      ok: false,
      expired: false,
      reason: "alg HS256 not allowed",
    });
  });

  test("an HS256 token keyed with the public key's PEM text is refused", async () => {
    const forged = await sign(claims(), enc.encode(rsaPem), { alg: "HS256" });
    expect((await rsOnly.verify(forged)).ok).toBe(false);
    const both = createVerifier(
      authConfig({ secret: SECRET, publicKey: rsaPem, algorithms: ["HS256", "RS256"] }),
      { now },
    );
    expect(await both.verify(forged)).toEqual({
      ok: false,
      expired: false,
      reason: "bad signature",
    });
  });

  test("with HS and RS allowed, each token goes to its own key", async () => {
    const both = createVerifier(
      authConfig({ secret: SECRET, publicKey: rsaPem, algorithms: ["HS256", "RS256"] }),
      { now },
    );
    const hs = await sign(claims({ sub: "hs" }), enc.encode(SECRET), { alg: "HS256" });
    const rs = await sign(claims({ sub: "rs" }), rsa.privateKey, { alg: "RS256" });
    expect(await both.verify(hs)).toMatchObject({ ok: true, identity: { user: "hs" } });
    expect(await both.verify(rs)).toMatchObject({ ok: true, identity: { user: "rs" } });
  });

  test("an allowed HS alg without a secret refuses HS tokens but RS tokens still verify", async () => {
    const verifier = createVerifier(
      authConfig({ secret: "", publicKey: rsaPem, algorithms: ["HS256", "RS256"] }),
      { now },
    );
    const hs = await sign(claims(), enc.encode("guessed"), { alg: "HS256" });
    expect(await verifier.verify(hs)).toEqual({
      ok: false,
      expired: false,
      reason: "no secret configured for HS256",
    });
    const rs = await sign(claims(), rsa.privateKey, { alg: "RS256" });
    expect((await verifier.verify(rs)).ok).toBe(true);
  });

  test("an allowed alg the PEM key cannot verify is refused", async () => {
    const verifier = createVerifier(
      authConfig({ publicKey: rsaPem, algorithms: ["RS256", "ES256"] }),
      { now },
    );
    const token = await sign(claims(), ec.privateKey, { alg: "ES256" });
    expect(await verifier.verify(token)).toEqual({
      ok: false,
      expired: false,
      reason: "no public key configured for ES256",
    });
  });
});
