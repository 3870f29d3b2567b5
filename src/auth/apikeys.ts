import { createHash, timingSafeEqual } from "node:crypto";

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

// Comparing digests keeps the time independent of where the strings differ and of their length.
const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/**
 * Whether an `Authorization` header carries one of the API keys as `Bearer <key>`. Every key is
 * compared, each in constant time, so the time taken tells nothing about which one is close.
 *
 * @example
 * if (!checkApiKey(config.auth.apiKeys, req.headers.get("authorization") ?? undefined)) ...
 */
export function checkApiKey(keys: readonly string[], authorization: string | undefined): boolean {
  const given = authorization?.match(BEARER)?.[1];
  if (!given || keys.length === 0) return false;
  const presented = digest(given);
  let found = false;
  for (const key of keys) {
    if (key && timingSafeEqual(presented, digest(key))) found = true;
  }
  return found;
}
