import { Redis } from "@upstash/redis";
import { ClusterBroker } from "./cluster.ts";
import { isNoScript, type Link, LinkError, type LinkEvents, type Transport } from "./link.ts";
import type { Script } from "./scripts.ts";
import type { Broker } from "./types.ts";
import { openEventStream } from "./upstash-stream.ts";

/**
 * Longest one REST request (a pipeline of commands) stays open. The broker stops waiting
 * sooner (COMMAND_TIMEOUT_MS, PROBE_TIMEOUT_MS), but a late answer is still used.
 */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Whether an error is Redis answering (an error reply such as `ERR …` or `NOSCRIPT …`, which
 * @upstash/redis throws as UpstashError, prefixed "Command failed: " in a pipeline). Any other
 * failure, including an HTTP error whose body is not a Redis reply, means Redis was not reached.
 */
function isReply(err: unknown): boolean {
  if ((err as Error)?.name !== "UpstashError") return false;
  const message = String((err as Error).message).replace(/^Command failed: /, "");
  return /^[A-Z][A-Z_]+ /.test(message);
}

function linkFailure(err: unknown): unknown {
  if (isReply(err)) return err;
  return new LinkError(String((err as Error)?.message ?? err));
}

class HttpLink implements Link {
  #stop: () => void = () => {};

  constructor(private readonly redis: Redis) {}

  attach(stop: () => void): void {
    this.#stop = stop;
  }

  async command(args: string[]): Promise<unknown> {
    const [name, ...rest] = args;
    if (!name) throw new Error("empty command");
    try {
      return await this.redis.exec([name, ...rest]);
    } catch (err) {
      throw linkFailure(err);
    }
  }

  async script(script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(script.sha, keys, args);
    } catch (err) {
      if (!isNoScript(err)) throw linkFailure(err);
    }
    try {
      return await this.redis.eval(script.body, keys, args);
    } catch (err) {
      throw linkFailure(err);
    }
  }

  close(): void {
    this.#stop();
  }
}

/**
 * Redis over Upstash's REST API with @upstash/redis: commands and scripts as HTTP requests
 * (auto-pipelined), the cluster channel as an event stream.
 */
export function httpTransport(url: string, token: string): Transport {
  const base = url.replace(/\/$/, "");
  return {
    target: base,
    async open(channel: string, events: LinkEvents): Promise<Link> {
      const redis = new Redis({
        url: base,
        token,
        automaticDeserialization: false,
        enableTelemetry: false,
        readYourWrites: false,
        retry: { retries: 0, backoff: () => 0 },
        signal: () => AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const link = new HttpLink(redis);
      const stream = await openEventStream({ base, token, channel, events });
      link.attach(stream.stop);
      return link;
    },
  };
}

/**
 * The broker over Upstash Redis (HTTP), at `broker.upstashUrl` with `broker.upstashToken`.
 *
 * @example
 * const broker = createUpstashBroker();
 * await broker.start(ctx); // ctx.config.broker.upstashUrl = "https://....upstash.io"
 */
export function createUpstashBroker(): Broker {
  return new ClusterBroker("upstash", (config) => {
    const { upstashUrl, upstashToken } = config.broker;
    if (!upstashUrl || !upstashToken) {
      throw new Error("broker.upstashUrl and broker.upstashToken must be set for upstash");
    }
    return httpTransport(upstashUrl, upstashToken);
  });
}
