import type { KeyObject } from "node:crypto";

/** JWS algorithms edgepush verifies, by the kind of key each one needs. */
export const HMAC_ALGS = ["HS256", "HS384", "HS512"] as const;
export const ASYMMETRIC_ALGS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

const SUPPORTED = new Set<string>([...HMAC_ALGS, ...ASYMMETRIC_ALGS]);

const EC_CURVE_ALG: Record<string, string> = {
  prime256v1: "ES256",
  secp384r1: "ES384",
  secp521r1: "ES512",
};

/** Whether `alg` takes the shared secret (HS256/384/512). */
export function isHmac(alg: string): boolean {
  return alg.startsWith("HS");
}

/** Whether edgepush knows how to verify `alg` at all. */
export function isSupported(alg: string): boolean {
  return SUPPORTED.has(alg);
}

/** Whether `alg` names the unsigned JWS algorithm, in any letter case. */
export function isNone(alg: string): boolean {
  return alg.toLowerCase() === "none";
}

/** The algorithms a parsed public key can verify. */
export function algsForKey(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    case "rsa-pss":
      return ["PS256", "PS384", "PS512"];
    case "ec": {
      const alg = EC_CURVE_ALG[key.asymmetricKeyDetails?.namedCurve ?? ""];
      return alg ? [alg] : [];
    }
    case "ed25519":
      return ["EdDSA", "Ed25519"];
    default:
      return [];
  }
}

/** A short description of a public key for error messages, like "ec prime256v1". */
export function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve ? `${key.asymmetricKeyType} ${curve}` : String(key.asymmetricKeyType);
}
