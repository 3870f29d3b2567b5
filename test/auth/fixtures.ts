import type { Server } from "bun";
import { type CryptoKey, exportJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import type { Config } from "../../config/schema.ts";
import { loadConfig } from "../../src/config/load.ts";

/** The fixed clock of the auth tests: 2030-01-01T00:00:00Z. */
export const NOW_MS = Date.UTC(2030, 0, 1);
export const NOW = NOW_MS / 1000;
export const now = () => NOW_MS;

export const SECRET = "auth-test-secret-0123456789abcdef-0123456789abcdef";
export const enc = new TextEncoder();

/** The `auth` section of a config validated by the real schema, with these keys changed. */
export function authConfig(over: Partial<Config["auth"]> = {}): Config["auth"] {
  return loadConfig({ env: {}, overrides: { auth: over } }).auth;
}

/** Signs `claims` as they are (no defaults added) with `alg` and `key`. */
export function sign(
  claims: JWTPayload,
  key: CryptoKey | Uint8Array,
  header: { alg: string; kid?: string } = { alg: "HS256" },
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** Claims of a token valid for an hour around the fixed clock. */
export function claims(extra: JWTPayload = {}): JWTPayload {
  return { sub: "alice", iat: NOW - 60, exp: NOW + 3600, ...extra };
}

/** A token in compact form with an arbitrary header and payload and an empty signature. */
export function unsigned(header: object, payload: object): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part(header)}.${part(payload)}.`;
}

/** A JWKS endpoint on 127.0.0.1 whose key set tests change, counting its fetches. */
export interface JwksServer {
  url: string;
  fetches: number;
  setKeys(keys: JWK[]): void;
  stop(): Promise<void>;
}

export async function publicJwk(key: CryptoKey, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(key)), kid, alg, use: "sig" };
}

/** Starts a JWKS server on a free port serving `keys` at /jwks.json. */
export function startJwksServer(keys: JWK[]): JwksServer {
  let current = keys;
  const state = { fetches: 0 };
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      if (new URL(req.url).pathname !== "/jwks.json") return new Response("no", { status: 404 });
      state.fetches++;
      return Response.json({ keys: current });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    setKeys(next) {
      current = next;
    },
    stop: () => server.stop(true),
  };
}
