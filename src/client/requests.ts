import { EdgepushError, ErrorCode } from "../protocol/codes.ts";
import type { ClientFrame } from "../protocol/frames.ts";
import type { ServerFrame } from "./types.ts";

/**
 * Request ids, replies and timeouts. A request made while disconnected waits in a queue
 * until the next connection or its timeout, whichever comes first.
 */

/** A client frame without its id: the tracker assigns one when it sends the frame. */
export type Outgoing = ClientFrame extends infer F
  ? F extends ClientFrame
    ? Omit<F, "id">
    : never
  : never;

/**
 * What happens to a request in flight when its connection drops:
 * - `retry`: sent again on the next connection (reads: presence, history);
 * - `fail`: rejected, since the server may or may not have acted on it (publish, send);
 * - `drop`: settled with an `unavailable` error the caller expects (subscribe, unsubscribe).
 */
export type LostPolicy = "retry" | "fail" | "drop";

/** Called with the reply; synchronous, so the caller acts before the next frame is read. */
export interface ReplyHandlers {
  reply(frame: ServerFrame): void;
  error(err: EdgepushError): void;
}

interface Pending extends ReplyHandlers {
  frame: Outgoing;
  policy: LostPolicy;
  timer: ReturnType<typeof setTimeout>;
  id?: number;
}

const MAX_ID = 2 ** 31 - 1;

/** Tracks requests of one client across its connections. */
export class Requests {
  readonly #queue: Pending[] = [];
  readonly #inFlight = new Map<number, Pending>();
  #nextId = 1;
  #send: ((text: string) => void) | null = null;

  constructor(private readonly timeoutMs: number) {}

  /** Sends `frame` now if connected, else queues it; the handlers get the outcome once. */
  request(frame: Outgoing, policy: LostPolicy, handlers: ReplyHandlers): void {
    const pending: Pending = { ...handlers, frame, policy, timer: undefined as never };
    pending.timer = setTimeout(() => this.#timeout(pending), this.timeoutMs);
    if (this.#send) this.#transmit(pending, this.#send);
    else this.#queue.push(pending);
  }

  /** The connection is up: send through `send`, starting with the queued requests. */
  online(send: (text: string) => void): void {
    this.#send = send;
    for (const pending of this.#queue.splice(0)) this.#transmit(pending, send);
  }

  /** Settles the request that `frame` answers; false when it answers none. */
  settle(frame: ServerFrame): boolean {
    const id = "id" in frame ? frame.id : undefined;
    if (id === undefined) return false;
    const pending = this.#inFlight.get(id);
    if (!pending) return false;
    this.#finish(pending);
    if (frame.type === "error") pending.error(new EdgepushError(asCode(frame.code), frame.message));
    else pending.reply(frame);
    return true;
  }

  /** The connection dropped: apply each request's policy. */
  offline(): void {
    this.#send = null;
    const lost = [...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const pending of lost) {
      pending.id = undefined;
      if (pending.policy === "retry") {
        this.#queue.push(pending);
        continue;
      }
      clearTimeout(pending.timer);
      const what = pending.policy === "fail" ? "; it may or may not have taken effect" : "";
      pending.error(
        unavailable(`connection lost before the reply to ${pending.frame.type}${what}`),
      );
    }
  }

  /** Rejects every request, queued or in flight (the client stopped). */
  failAll(err: EdgepushError): void {
    this.#send = null;
    const all = [...this.#queue.splice(0), ...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const pending of all) {
      clearTimeout(pending.timer);
      pending.error(err);
    }
  }

  #transmit(pending: Pending, send: (text: string) => void): void {
    const id = this.#nextId;
    this.#nextId = id >= MAX_ID ? 1 : id + 1;
    pending.id = id;
    this.#inFlight.set(id, pending);
    send(JSON.stringify({ ...pending.frame, id }));
  }

  #finish(pending: Pending): void {
    clearTimeout(pending.timer);
    if (pending.id !== undefined) this.#inFlight.delete(pending.id);
    const i = this.#queue.indexOf(pending);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #timeout(pending: Pending): void {
    const waiting = pending.id === undefined;
    this.#finish(pending);
    const ms = this.timeoutMs;
    pending.error(
      unavailable(
        waiting
          ? `no connection within the request timeout (${ms} ms) for ${pending.frame.type}`
          : `no reply within the request timeout (${ms} ms) to ${pending.frame.type}`,
      ),
    );
  }
}

const codes = new Set<string>(Object.values(ErrorCode));

function asCode(code: string): ErrorCode {
  return codes.has(code) ? (code as ErrorCode) : ErrorCode.internal;
}

/** The error of a request that could not reach the server. */
export function unavailable(message: string): EdgepushError {
  return new EdgepushError(ErrorCode.unavailable, message);
}
