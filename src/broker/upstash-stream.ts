import { LinkError, type LinkEvents, within } from "./link.ts";

/** Longest wait for the event stream to confirm the subscription. */
const SUBSCRIBE_TIMEOUT_MS = 3000;

export interface StreamOptions {
  base: string;
  token: string;
  channel: string;
  events: LinkEvents;
}

/** A subscription over an event stream; `stop` ends it without reporting a loss. */
export interface EventStream {
  stop(): void;
}

/**
 * The event-stream lines of Upstash's subscribe endpoint: `data: subscribe,<channel>,<n>`
 * once, then `data: message,<channel>,<payload>` per message.
 */
function parse(line: string): { type: string; payload: string } | undefined {
  if (!line.startsWith("data: ")) return undefined;
  const data = line.slice(6);
  const first = data.indexOf(",");
  const second = data.indexOf(",", first + 1);
  if (first < 0 || second < 0) return undefined;
  return { type: data.slice(0, first), payload: data.slice(second + 1) };
}

/**
 * Subscribes to an Upstash channel as @upstash/redis does (POST `/subscribe/<channel>` as
 * text/event-stream), reading the stream itself: the client's own subscriber does not report
 * a stream that ends or breaks, and the broker must notice both. Resolves once the
 * subscription is confirmed.
 */
export async function openEventStream(opts: StreamOptions): Promise<EventStream> {
  const abort = new AbortController();
  let stopped = false;
  const stop = () => {
    stopped = true;
    abort.abort();
  };
  let subscribed = false;
  let confirm: () => void = () => {};
  const confirmed = new Promise<void>((resolve) => {
    confirm = resolve;
  });

  const read = async (body: ReadableStream<Uint8Array>): Promise<string> => {
    const decoder = new TextDecoder();
    let buf = "";
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const event = parse(buf.slice(0, nl).replace(/\r$/, ""));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (event?.type === "subscribe") {
          subscribed = true;
          confirm();
        } else if (event?.type === "message") opts.events.message(event.payload);
      }
    }
    return "event stream ended";
  };

  const res = await within(
    fetch(`${opts.base}/subscribe/${opts.channel}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${opts.token}`,
        accept: "text/event-stream",
        "content-type": "application/json",
      },
      body: "[]",
      signal: abort.signal,
    }).catch((err: unknown) => {
      throw new LinkError(`subscribe failed: ${String(err)}`);
    }),
    SUBSCRIBE_TIMEOUT_MS,
    "subscribe",
  ).catch((err: unknown) => {
    stop();
    throw err;
  });
  if (!res.ok || !res.body) {
    stop();
    throw new LinkError(`subscribe answered ${res.status}: ${await res.text().catch(() => "")}`);
  }

  let ended = false;
  read(res.body)
    .catch((err: unknown) => `event stream broke: ${String(err)}`)
    .then((reason) => {
      ended = true;
      confirm();
      if (!stopped && subscribed) {
        stopped = true;
        opts.events.lost(reason);
      }
    });
  await within(confirmed, SUBSCRIBE_TIMEOUT_MS, "subscribe confirmation").catch((err: unknown) => {
    stop();
    throw err;
  });
  if (ended) throw new LinkError("event stream ended before it was confirmed");
  return { stop };
}
