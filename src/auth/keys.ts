import { createPublicKey, type KeyObject } from "node:crypto";
import { createRemoteJWKSet, errors, type JWSHeaderParameters, type JWTVerifyGetKey } from "jose";
import type { Config } from "../../config/schema.ts";
import { ConfigError } from "../config/load.ts";
import {
  ASYMMETRIC_ALGS,
  algsForKey,
  describeKey,
  HMAC_ALGS,
  isHmac,
  isNone,
  isSupported,
} from "./algorithms.ts";

type Auth = Config["auth"];

/** The key to verify one token with, or why there is none. */
export type KeyChoice = { key: JWTVerifyGetKey } | { reason: string };

/** Every key source the config names, imported once. */
export interface KeySources {
  /** Picks the key source for a token by its header's `alg` (and `kid`, for JWKS). */
  select(header: JWSHeaderParameters & { alg: string }): KeyChoice;
}

export interface KeySourceOptions {
  /** Least time between two JWKS fetches caused by an unknown `kid`, in ms (30 s by default). */
  jwksCooldownMs?: number;
}

function checkAlgorithms(algorithms: readonly string[]): void {
  for (const alg of algorithms) {
    if (isNone(alg)) {
      throw new ConfigError(`auth.algorithms: "${alg}" is never accepted; remove it`);
    }
    if (!isSupported(alg)) {
      const known = [...HMAC_ALGS, ...ASYMMETRIC_ALGS].join(", ");
      throw new ConfigError(`auth.algorithms: unknown algorithm "${alg}" (known: ${known})`);
    }
  }
}

function hmacKeys(secret: string, algorithms: readonly string[]): Map<string, Promise<CryptoKey>> {
  const keys = new Map<string, Promise<CryptoKey>>();
  if (!secret) return keys;
  const raw = new TextEncoder().encode(secret);
  for (const alg of algorithms.filter(isHmac)) {
    const hash = { name: "HMAC", hash: `SHA-${alg.slice(2)}` };
    keys.set(alg, crypto.subtle.importKey("raw", raw, hash, false, ["verify"]));
  }
  return keys;
}

/** Env variables cannot always hold newlines; accept a PEM with literal "\n" too. */
function parsePem(text: string): KeyObject {
  try {
    return createPublicKey(text.includes("\\n") ? text.replaceAll("\\n", "\n") : text);
  } catch (err) {
    throw new ConfigError(`auth.publicKey: not a PEM public key (${(err as Error).message})`);
  }
}

function pemKey(text: string, algorithms: readonly string[]) {
  if (!text.trim()) return undefined;
  const key = parsePem(text.trim());
  const algs = new Set(algsForKey(key).filter((a) => algorithms.includes(a)));
  if (algs.size === 0) {
    throw new ConfigError(
      `auth.publicKey: this ${describeKey(key)} key verifies none of auth.algorithms ` +
        `(${algorithms.join(", ")})`,
    );
  }
  return { key, algs };
}

function remoteJwks(url: string, algorithms: readonly string[], opts: KeySourceOptions) {
  if (!url.trim()) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new ConfigError(`auth.jwksUrl: "${url}" is not a URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new ConfigError(`auth.jwksUrl: "${url}" must be an http or https URL`);
  }
  if (!algorithms.some((a) => !isHmac(a))) {
    throw new ConfigError(
      "auth.jwksUrl is set but auth.algorithms lists no RS/PS/ES/EdDSA algorithm to use it with",
    );
  }
  return labelled(createRemoteJWKSet(parsed, { cooldownDuration: opts.jwksCooldownMs }));
}

/** A JWKS that could not be fetched, read or imported; the message fits a log line. */
export class JwksError extends Error {
  override name = "JwksError";
}

/** Keeps "no such kid" errors as they are and labels every other JWKS failure. */
function labelled(jwks: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) throw err;
      if (err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw new JwksError((err as Error).message ?? String(err), { cause: err });
    }
  };
}

function noUsableKey(auth: Auth): ConfigError {
  const hmac = auth.algorithms.filter(isHmac);
  const other = auth.algorithms.filter((a) => !isHmac(a));
  const needs = [
    hmac.length ? `${hmac.join(", ")} needs auth.secret (env EDGEPUSH_JWT_SECRET)` : "",
    other.length ? `${other.join(", ")} needs auth.publicKey or auth.jwksUrl` : "",
  ].filter(Boolean);
  return new ConfigError(`auth.algorithms: no key for any allowed algorithm: ${needs.join("; ")}`);
}

/**
 * Reads the key sources of the `auth` config: the HS secret, a PEM public key, a JWKS URL.
 * Throws a ConfigError naming the key when the config cannot verify any token, or lists
 * `none`, an unknown algorithm, or a key that fits no allowed algorithm.
 */
export function createKeySources(auth: Auth, opts: KeySourceOptions = {}): KeySources {
  const algorithms = auth.algorithms;
  checkAlgorithms(algorithms);
  const hmac = hmacKeys(auth.secret, algorithms);
  const pem = pemKey(auth.publicKey, algorithms);
  const jwks = remoteJwks(auth.jwksUrl, algorithms, opts);
  const usable = algorithms.some((a) => hmac.has(a) || pem?.algs.has(a) || (jwks && !isHmac(a)));
  if (!usable) throw noUsableKey(auth);

  return {
    select(header) {
      const { alg } = header;
      if (isHmac(alg)) {
        const key = hmac.get(alg);
        return key ? { key: () => key } : { reason: `no secret configured for ${alg}` };
      }
      // With both sources, a token naming a `kid` is looked up in the JWKS.
      if (pem?.algs.has(alg) && !(jwks && header.kid !== undefined)) {
        const key = pem.key;
        return { key: () => key };
      }
      if (jwks) return { key: jwks };
      return { reason: `no public key configured for ${alg}` };
    },
  };
}
