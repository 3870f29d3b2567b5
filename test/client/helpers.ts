import { EdgepushClient } from "../../src/client/client.ts";
import type { Subscription } from "../../src/client/subscription.ts";
import type { ClientOptions, Message, StateChange } from "../../src/client/types.ts";
import { tokenFor } from "../support/client.ts";

/** Shared pieces of the SDK suites: clients with recorded events, and waits on events. */

/** A real WebSocket that records when each one is opened, to see when the client retries. */
export function recordingWebSocket(opened: number[]): ClientOptions["WebSocket"] {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      opened.push(performance.now());
    }
  };
}

/** A client for `user` at `url`, with its state changes recorded. */
export function clientFor(
  url: string,
  user: string,
  opts: Partial<ClientOptions> = {},
): { client: EdgepushClient; states: StateChange[]; opened: number[] } {
  const opened: number[] = [];
  const client = new EdgepushClient({
    url,
    getToken: () => tokenFor(user),
    backoff: { baseMs: 100, maxMs: 1000 },
    WebSocket: recordingWebSocket(opened),
    ...opts,
  });
  const states: StateChange[] = [];
  client.on("state", (s) => states.push(s));
  return { client, states, opened };
}

/** Resolves with the first state change matching `pred` from now on. */
export function stateWhere(
  client: EdgepushClient,
  pred: (s: StateChange) => boolean,
  timeoutMs = 20_000,
): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching state change within ${timeoutMs} ms (now ${client.state})`));
    }, timeoutMs);
    const off = client.on("state", (s) => {
      if (!pred(s)) return;
      clearTimeout(timer);
      off();
      resolve(s);
    });
  });
}

/** Messages gathered from an event; `waitFor(n)` resolves once `n` have arrived. */
export interface Collected {
  messages: Message[];
  waitFor(n: number, timeoutMs?: number): Promise<Message[]>;
}

function gather(listen: (fn: (m: Message) => void) => void): Collected {
  const messages: Message[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  listen((m) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (messages.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    messages,
    waitFor(n, timeoutMs = 20_000) {
      if (messages.length >= n) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`only ${messages.length} of ${n} messages within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(messages);
          },
        });
      });
    },
  };
}

/** Collects a subscription's messages. */
export function collect(sub: Subscription): Collected {
  return gather((fn) => sub.on("message", fn));
}

/** Collects a client's broadcasts. */
export function collectBroadcasts(client: EdgepushClient): Collected {
  return gather((fn) => client.on("broadcast", fn));
}
