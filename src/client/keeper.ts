import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import { refreshDelay, tokenExpiresWithin, tokenExpiry } from "./token.ts";

/** A token this close to expiry is replaced before connecting. */
const TOKEN_MARGIN_MS = 5_000;

/** What the keeper needs from the client. */
export interface KeeperHooks {
  /** Sends a `refresh` frame; resolves with the new `exp`, rejects with the server's error. */
  refresh(token: string): Promise<number | undefined>;
  /** Reports a failure that no request is waiting for. */
  error(err: EdgepushError): void;
}

/** Wraps anything `getToken` threw into an error with a protocol code. */
export function tokenError(err: unknown): EdgepushError {
  if (err instanceof EdgepushError) return err;
  return new EdgepushError(ErrorCode.unauthorized, `getToken failed: ${String(err)}`);
}

/**
 * Holds the client's token: fetches one with `getToken` when there is none, when it is about
 * to expire or after the server said it expired, and refreshes it on the open connection
 * before `exp`.
 */
export class TokenKeeper {
  #token: string | undefined;
  #stale = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    fixed: string | undefined,
    private readonly getToken: (() => string | Promise<string>) | undefined,
    private readonly hooks: KeeperHooks,
  ) {
    this.#token = fixed;
  }

  /** Whether a new token can be had (a `getToken` was given). */
  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  /** The token to connect with, fetched first if needed. */
  async current(): Promise<string | undefined> {
    const token = this.#token;
    if (!this.getToken) return token;
    if (!token || this.#stale || tokenExpiresWithin(token, TOKEN_MARGIN_MS)) {
      this.#token = await this.getToken();
      this.#stale = false;
    }
    return this.#token;
  }

  /** The server closed with 4004: the next connection needs a new token. */
  expired(): void {
    this.#stale = true;
  }

  /** The server rejected the token (4001): never reuse it. */
  rejected(): void {
    if (this.getToken) this.#token = undefined;
  }

  /** A connection opened: schedule a refresh before the token expires. */
  start(): void {
    this.#schedule(this.#token ? tokenExpiry(this.#token) : undefined);
  }

  /** The connection closed: no refresh until the next one. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(exp: number | undefined): void {
    this.stop();
    const delay = this.getToken ? refreshDelay(exp) : undefined;
    if (delay !== undefined) this.#timer = setTimeout(() => void this.#refresh(), delay);
  }

  async #refresh(): Promise<void> {
    this.#timer = undefined;
    if (!this.getToken) return;
    let token: string;
    try {
      token = await this.getToken();
    } catch (err) {
      this.hooks.error(tokenError(err));
      this.#retry();
      return;
    }
    try {
      const exp = await this.hooks.refresh(token);
      this.#token = token;
      this.#schedule(exp ?? tokenExpiry(token));
    } catch (err) {
      // Lost with the connection: the next one connects with a fresh token anyway.
      if (err instanceof EdgepushError && err.code === ErrorCode.unavailable) return;
      this.hooks.error(tokenError(err));
      this.#retry();
    }
  }

  /** After a failed refresh, tries again halfway to the current token's expiry. */
  #retry(): void {
    const exp = this.#token ? tokenExpiry(this.#token) : undefined;
    if (exp === undefined) return;
    const left = exp * 1000 - Date.now();
    if (left > 2_000) this.#timer = setTimeout(() => void this.#refresh(), left / 2);
  }
}
