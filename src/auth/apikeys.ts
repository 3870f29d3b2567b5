import { createHash, timingSafeEqual } from "node:crypto";

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

// Comparing digests keeps the time independent of where the strings differ and of their length.
const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/**
 * The API key an `Authorization` header carries as `Bearer <key>`, or undefined when it carries
 * none of them. Every key is compared, each in constant time, so the time taken tells nothing
 * about which one is close. The key returned is the configured one, whatever the spelling of
 * the header around it (`bearer`, spaces), so that it can name a rate-limit bucket.
 *
 * @example
 * const key = apiKeyOf(config.auth.apiKeys, req.headers.get("authorization") ?? undefined);
 */
export function apiKeyOf(
  keys: readonly string[],
  authorization: string | undefined,
): string | undefined {
  const given = authorization?.match(BEARER)?.[1];
  if (!given || keys.length === 0) return undefined;
  const presented = digest(given);
  let found: string | undefined;
  for (const key of keys) {
    if (key && timingSafeEqual(presented, digest(key))) found = key;
  }
  return found;
}

/** Whether an `Authorization` header carries one of the API keys (see apiKeyOf). */
export function checkApiKey(keys: readonly string[], authorization: string | undefined): boolean {
  return apiKeyOf(keys, authorization) !== undefined;
}
