/** Reading a JWT's expiry on the client, without verifying it (the server does that). */

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The `exp` claim of a JWT in seconds since the Unix epoch, or undefined when absent. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that expires at `exp` (seconds): a quarter of
 * the time left, at most 30 s, before expiry. Undefined when the token does not expire.
 */
export function refreshDelay(exp: number | undefined, now = Date.now()): number | undefined {
  if (exp === undefined) return undefined;
  const left = exp * 1000 - now;
  return Math.max(0, left - Math.min(30_000, left / 4));
}

/** Whether the token has expired or will within `marginMs`. */
export function tokenExpiresWithin(token: string, marginMs: number, now = Date.now()): boolean {
  const exp = tokenExpiry(token);
  return exp !== undefined && exp * 1000 - now <= marginMs;
}
