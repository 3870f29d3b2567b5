import type { Script } from "./scripts.ts";

/**
 * One connection to Redis, by whatever transport: commands plus a subscription to the
 * cluster channel. A link that fails is not repaired: the broker opens a new one.
 */
export interface Link {
  /** Runs one command. Rejects with `LinkError` when Redis cannot be reached. */
  command(args: string[]): Promise<unknown>;
  /** Runs a script by SHA1, sending its body when Redis does not hold it yet. */
  script(script: Script, keys: string[], args: string[]): Promise<unknown>;
  /** Ends the connection and the subscription; `lost` is not called after this. */
  close(): void;
}

/** What a link reports back. */
export interface LinkEvents {
  /** A payload published on the cluster channel. */
  message(payload: string): void;
  /** The link failed (connection closed, event stream ended); called at most once. */
  lost(reason: string): void;
}

/** Opens links to one Redis: `redis` over TCP, `upstash` over HTTP. */
export interface Transport {
  /** Where the transport points, for logs (without credentials). */
  readonly target: string;
  /**
   * Connects and subscribes to `channel`; resolves once both work. `name` names the
   * connections where the transport can (CLIENT SETNAME), e.g. the node id.
   */
  open(channel: string, events: LinkEvents, name: string): Promise<Link>;
}

/** Redis could not be reached (as opposed to Redis answering with an error). */
export class LinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LinkError";
  }
}

/**
 * Redis gave no answer in time. On its own this says only that one request was slow: the
 * connection may be alive and the answer still on its way.
 */
export class LinkTimeout extends LinkError {
  constructor(message: string) {
    super(message);
    this.name = "LinkTimeout";
  }
}

/** Rejects with `LinkTimeout` when `work` takes longer than `ms`. */
export function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LinkTimeout(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Whether a Redis error reply says the script is not loaded. */
export function isNoScript(err: unknown): boolean {
  return String((err as Error)?.message ?? err).includes("NOSCRIPT");
}
