import { SignJWT } from "jose";
import type { Config } from "../../config/schema.ts";
import { isHmac } from "./algorithms.ts";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Reads a duration as whole seconds: a positive whole number with an optional unit s, m, h or
 * d. Throws an Error that says what is accepted otherwise.
 *
 * @example
 * parseDuration("15m"); // 900
 */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] || "s"] as number) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(
      `duration "${text}": expected a positive whole number with an optional unit s, m, h or d ` +
        "(90, 90s, 15m, 1h, 7d)",
    );
  }
  return seconds;
}

/**
 * Signs a token with `auth.secret`, using the first HS algorithm in `auth.algorithms` (HS256
 * when none is listed), with `iss` and `aud` set when the config checks them. For
 * `edgepush token` and development tokens. Throws when no secret is configured.
 *
 * @example
 * const token = await mintToken(config.auth, { sub: "alice", ttlSeconds: 3600, rooms: ["chat:*"] });
 */
export async function mintToken(
  auth: Config["auth"],
  claims: { sub: string; ttlSeconds: number; rooms?: string[] },
): Promise<string> {
  if (!auth.secret) {
    throw new Error("auth.secret is empty: set it (or EDGEPUSH_JWT_SECRET) to mint tokens");
  }
  if (!claims.sub) throw new Error("a token needs a non-empty sub");
  if (!Number.isSafeInteger(claims.ttlSeconds) || claims.ttlSeconds <= 0) {
    throw new Error(`token lifetime must be a positive whole number of seconds`);
  }
  const alg = auth.algorithms.find(isHmac) ?? "HS256";
  const jwt = new SignJWT(claims.rooms ? { rooms: claims.rooms } : {})
    .setProtectedHeader({ alg, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`);
  if (auth.issuer) jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt.setAudience(auth.audience);
  return jwt.sign(new TextEncoder().encode(auth.secret));
}
