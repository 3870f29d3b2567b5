import { decodeProtectedHeader, errors, type JWTVerifyOptions, jwtVerify } from "jose";
import type { Config } from "../../config/schema.ts";
import { isNone } from "./algorithms.ts";
import { claimProblem, identityOf } from "./claims.ts";
import { createKeySources, JwksError, type KeySources } from "./keys.ts";

/** Who a verified token says the client is. */
export interface Identity {
  /** The `sub` claim. */
  user: string;
  /** The `exp` claim in seconds since the epoch, when present. */
  exp?: number;
  /** Whether the `rooms` claim lets the user into a token-protected room; false when absent. */
  rooms: (room: string) => boolean;
  /** Every claim of the token. */
  claims: Record<string, unknown>;
}

/**
 * The outcome of verifying a token. `expired` is true only for a well formed, correctly signed
 * token that passes every check but `exp` (close 4004); any other failure closes with 4001.
 * `reason` is short, fit for a log line, and never contains the token.
 */
export type VerifyResult =
  | { ok: true; identity: Identity }
  | { ok: false; expired: boolean; reason: string };

/** Verifies client JWTs against the `auth` config. */
export interface TokenVerifier {
  verify(token: string): Promise<VerifyResult>;
}

export interface VerifierOptions {
  /** The clock in ms since the epoch; the system clock by default. */
  now?: () => number;
  /** Least time between two JWKS fetches caused by an unknown `kid`, in ms (30 s by default). */
  jwksCooldownMs?: number;
}

type Header = ReturnType<typeof decodeProtectedHeader> & { alg: string };

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_CHARS = 16_384;

const fail = (reason: string, expired = false): VerifyResult => ({ ok: false, expired, reason });

function readHeader(token: unknown): Header | string {
  if (typeof token !== "string" || token.split(".").length !== 3) return "malformed token";
  if (token.length > MAX_TOKEN_CHARS) return "token too long";
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return "malformed token header";
  }
  if (typeof header.alg !== "string") return "token header has no alg";
  return header as Header;
}

function algProblem(alg: string, allowed: ReadonlySet<string>): string | undefined {
  if (isNone(alg)) return 'alg "none" is never accepted';
  if (allowed.has(alg)) return undefined;
  return /^[A-Za-z0-9]{1,16}$/.test(alg) ? `alg ${alg} not allowed` : "alg not allowed";
}

function claimFailure(err: InstanceType<typeof errors.JWTClaimValidationFailed>): string {
  if (err.reason === "missing") return `missing ${err.claim}`;
  switch (err.claim) {
    case "nbf":
      return "token not yet valid (nbf)";
    case "iss":
      return "wrong issuer";
    case "aud":
      return "wrong audience";
    default:
      return `bad ${err.claim} claim`;
  }
}

function rejection(err: unknown): VerifyResult {
  if (err instanceof errors.JWTExpired && err.claim === "exp") {
    const problem = claimProblem(err.payload);
    return problem ? fail(problem) : fail("token expired", true);
  }
  if (err instanceof errors.JWTClaimValidationFailed) return fail(claimFailure(err));
  if (err instanceof errors.JWSSignatureVerificationFailed) return fail("bad signature");
  if (err instanceof errors.JWKSNoMatchingKey) return fail("no JWKS key matches the token");
  if (err instanceof errors.JWKSMultipleMatchingKeys) return fail("several JWKS keys match");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) {
    return fail("malformed token");
  }
  if (err instanceof errors.JOSENotSupported) return fail("unsupported token header");
  if (err instanceof JwksError) return fail(`JWKS unusable: ${err.message}`.slice(0, 160));
  if (err instanceof errors.JOSEError) return fail(`token rejected: ${err.code}`);
  // A configured key unfit for the token, such as an RSA key under 2048 bits.
  return fail(`cannot verify: ${(err as Error).message ?? String(err)}`.slice(0, 160));
}

async function verifyWith(
  keys: KeySources,
  allowed: ReadonlySet<string>,
  base: JWTVerifyOptions,
  now: (() => number) | undefined,
  token: string,
): Promise<VerifyResult> {
  const header = readHeader(token);
  if (typeof header === "string") return fail(header);
  const bad = algProblem(header.alg, allowed);
  if (bad) return fail(bad);
  const choice = keys.select(header);
  if ("reason" in choice) return fail(choice.reason);

  const options = { ...base, algorithms: [header.alg], currentDate: now && new Date(now()) };
  let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
  try {
    ({ payload } = await jwtVerify(token, choice.key, options));
  } catch (err) {
    return rejection(err);
  }
  const problem = claimProblem(payload);
  return problem ? fail(problem) : { ok: true, identity: identityOf(payload) };
}

/**
 * Creates a verifier for the `auth` config. Keys are read once, here; a JWKS is fetched on
 * first use and cached by jose. Throws an Error naming the config key when the config cannot
 * verify any token (no secret or public key for an allowed alg, `none` allowed, ...).
 *
 * @example
 * const verifier = createVerifier(config.auth);
 * const result = await verifier.verify(token);
 * if (!result.ok) ws.close(result.expired ? 4004 : 4001, "unauthorized");
 */
export function createVerifier(auth: Config["auth"], opts: VerifierOptions = {}): TokenVerifier {
  const keys = createKeySources(auth, { jwksCooldownMs: opts.jwksCooldownMs });
  const allowed = new Set(auth.algorithms);
  const base: JWTVerifyOptions = {
    issuer: auth.issuer || undefined,
    audience: auth.audience || undefined,
    clockTolerance: auth.clockToleranceSeconds,
    requiredClaims: auth.requireExp ? ["sub", "exp"] : ["sub"],
  };
  return { verify: (token) => verifyWith(keys, allowed, base, opts.now, token) };
}
