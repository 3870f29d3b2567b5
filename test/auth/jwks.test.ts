import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type CryptoKey, exportSPKI, generateKeyPair } from "jose";
import { createVerifier } from "../../src/auth/jwt.ts";
import {
  authConfig,
  claims,
  type JwksServer,
  now,
  publicJwk,
  sign,
  startJwksServer,
} from "./fixtures.ts";

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };

let first: Pair;
let second: Pair;
let server: JwksServer;

beforeAll(async () => {
  first = await generateKeyPair("EdDSA", { extractable: true });
  second = await generateKeyPair("EdDSA", { extractable: true });
  server = startJwksServer([await publicJwk(first.publicKey, "k1", "EdDSA")]);
});
afterAll(() => server.stop());

const eddsa = (kid: string) => ({ alg: "EdDSA", kid });

describe("keys from a JWKS URL", () => {
  test("an EdDSA token verifies with the key its kid names, fetched once", async () => {
    const verifier = createVerifier(authConfig({ jwksUrl: server.url, algorithms: ["EdDSA"] }), {
      now,
    });
    const before = server.fetches;
    for (const sub of ["ann", "bob", "cyd"]) {
      const token = await sign(claims({ sub }), first.privateKey, eddsa("k1"));
      expect(await verifier.verify(token)).toMatchObject({ ok: true, identity: { user: sub } });
    }
    expect(server.fetches - before).toBe(1);
  });

  test("a token signed with a key the set does not hold is refused", async () => {
    const verifier = createVerifier(authConfig({ jwksUrl: server.url, algorithms: ["EdDSA"] }), {
      now,
    });
    const stranger = await generateKeyPair("EdDSA");
    const unknownKid = await sign(claims(), stranger.privateKey, eddsa("nobody"));
    expect(await verifier.verify(unknownKid)).toEqual({
      ok: false,
      expired: false,
      reason: "no JWKS key matches the token",
    });
    const stolenKid = await sign(claims(), stranger.privateKey, eddsa("k1"));
    expect(await verifier.verify(stolenKid)).toEqual({
      ok: false,
      expired: false,
      reason: "bad signature",
    });
  });

  test("after key rotation a token with the new kid verifies, and the old key still works", async () => {
    const verifier = createVerifier(authConfig({ jwksUrl: server.url, algorithms: ["EdDSA"] }), {
      now,
      jwksCooldownMs: 0,
    });
    const old = await sign(claims({ sub: "old" }), first.privateKey, eddsa("k1"));
    expect((await verifier.verify(old)).ok).toBe(true);

    const rotated = await sign(claims({ sub: "new" }), second.privateKey, eddsa("k2"));
    expect((await verifier.verify(rotated)).ok).toBe(false);
    server.setKeys([
      await publicJwk(first.publicKey, "k1", "EdDSA"),
      await publicJwk(second.publicKey, "k2", "EdDSA"),
    ]);
    const fetchesBefore = server.fetches;
    expect(await verifier.verify(rotated)).toMatchObject({ ok: true, identity: { user: "new" } });
    expect(server.fetches).toBe(fetchesBefore + 1);
    expect((await verifier.verify(old)).ok).toBe(true);
  });

  test("an expired token signed with a JWKS key is reported as expired", async () => {
    const verifier = createVerifier(authConfig({ jwksUrl: server.url, algorithms: ["EdDSA"] }), {
      now,
    });
    const token = await sign(claims({ exp: now() / 1000 - 60 }), first.privateKey, eddsa("k1"));
    expect(await verifier.verify(token)).toEqual({
      ok: false,
      expired: true,
      reason: "token expired",
    });
  });

  test("a PEM key and a JWKS together: tokens with a kid use the JWKS, others the PEM", async () => {
    const es = await generateKeyPair("ES256", { extractable: true });
    const verifier = createVerifier(
      authConfig({
        publicKey: await exportSPKI(es.publicKey),
        jwksUrl: server.url,
        algorithms: ["ES256", "EdDSA"],
      }),
      { now },
    );
    const pem = await sign(claims({ sub: "pem" }), es.privateKey, { alg: "ES256" });
    const jwks = await sign(claims({ sub: "jwks" }), first.privateKey, eddsa("k1"));
    expect(await verifier.verify(pem)).toMatchObject({ ok: true, identity: { user: "pem" } });
    expect(await verifier.verify(jwks)).toMatchObject({ ok: true, identity: { user: "jwks" } });
  });

  test("a JWKS server that cannot be reached refuses tokens without throwing", async () => {
    const down = startJwksServer([await publicJwk(first.publicKey, "k1", "EdDSA")]);
    const url = down.url;
    await down.stop();
    const verifier = createVerifier(authConfig({ jwksUrl: url, algorithms: ["EdDSA"] }), { now });
    const token = await sign(claims(), first.privateKey, eddsa("k1"));
    const result = await verifier.verify(token);
    expect(result.ok).toBe(false);
    if (result.ok) throw new Error("verified without its JWKS");
    expect(result.expired).toBe(false);
    expect(result.reason).toStartWith("JWKS unusable: ");
  });
});
