import { describe, expect, test } from "bun:test";
import { exportSPKI, generateKeyPair } from "jose";
import { createVerifier } from "../../src/auth/jwt.ts";
import { ConfigError } from "../../src/config/load.ts";
import { authConfig, SECRET } from "./fixtures.ts";

function configError(over: Parameters<typeof authConfig>[0]): string {
  try {
    createVerifier(authConfig(over));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("createVerifier accepted a config that cannot work");
}

describe("auth config that cannot work is refused at startup", () => {
  test("listing none names auth.algorithms", () => {
    expect(configError({ secret: SECRET, algorithms: ["HS256", "none"] })).toContain(
      'auth.algorithms: "none" is never accepted',
    );
    expect(configError({ secret: SECRET, algorithms: ["NONE"] })).toContain("auth.algorithms");
  });

  test("an unknown algorithm names auth.algorithms", () => {
    expect(configError({ secret: SECRET, algorithms: ["HS1024"] })).toContain(
      'auth.algorithms: unknown algorithm "HS1024"',
    );
  });

  test("the default HS256 without a secret names auth.secret", () => {
    expect(configError({ secret: "" })).toContain("auth.secret");
  });

  test("an asymmetric algorithm without a public key or JWKS names both keys", () => {
    const message = configError({ algorithms: ["RS256", "EdDSA"] });
    expect(message).toContain("auth.publicKey or auth.jwksUrl");
  });

  test("a public key that is not PEM names auth.publicKey", () => {
    expect(configError({ publicKey: "not a key", algorithms: ["RS256"] })).toContain(
      "auth.publicKey: not a PEM public key",
    );
  });

  test("a public key that fits none of the allowed algorithms names auth.publicKey", async () => {
    const ec = await generateKeyPair("ES256", { extractable: true });
    const message = configError({
      secret: SECRET,
      publicKey: await exportSPKI(ec.publicKey),
      algorithms: ["HS256", "RS256"],
    });
    expect(message).toContain("auth.publicKey: this ec prime256v1 key verifies none");
  });

  test("a JWKS URL that is not http(s) names auth.jwksUrl", () => {
    expect(configError({ jwksUrl: "file:///etc/jwks.json", algorithms: ["RS256"] })).toContain(
      "auth.jwksUrl",
    );
    expect(configError({ jwksUrl: "no url", algorithms: ["RS256"] })).toContain("auth.jwksUrl");
  });

  test("a JWKS URL with only HS algorithms allowed names auth.jwksUrl", () => {
    expect(configError({ secret: SECRET, jwksUrl: "https://auth.example/jwks.json" })).toContain(
      "auth.jwksUrl",
    );
  });

  test("a secret with HS256, or a JWKS URL with RS256, is enough", () => {
    expect(() => createVerifier(authConfig({ secret: SECRET }))).not.toThrow();
    const jwks = { jwksUrl: "https://auth.example/jwks.json", algorithms: ["RS256"] };
    expect(() => createVerifier(authConfig(jwks))).not.toThrow();
  });
});
