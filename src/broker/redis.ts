import { RedisClient } from "bun";
import { ClusterBroker } from "./cluster.ts";
import { isNoScript, type Link, LinkError, type LinkEvents, type Transport } from "./link.ts";
import type { Script } from "./scripts.ts";
import type { Broker } from "./types.ts";

/** Longest wait for a TCP connection to Redis. */
const CONNECT_TIMEOUT_MS = 2000;

/** Bun reports a Redis error reply with this code; every other failure is the connection's. */
const SERVER_ERROR = "ERR_REDIS_SERVER_ERROR";

function linkFailure(err: unknown): unknown {
  if ((err as { code?: string })?.code === SERVER_ERROR) return err;
  return new LinkError(String((err as Error)?.message ?? err));
}

/** Connections that fail are replaced by the broker, so Bun's own reconnecting stays off. */
function client(url: string): RedisClient {
  return new RedisClient(url, {
    autoReconnect: false,
    enableOfflineQueue: false,
    connectionTimeout: CONNECT_TIMEOUT_MS,
  });
}

class TcpLink implements Link {
  #closed = false;

  constructor(
    private readonly cmd: RedisClient,
    private readonly sub: RedisClient,
  ) {}

  /** Marks the link closed; returns false when it already was. */
  shut(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.cmd.close();
    this.sub.close();
    return true;
  }

  async command(args: string[]): Promise<unknown> {
    const [name, ...rest] = args;
    if (!name) throw new Error("empty command");
    try {
      return await this.cmd.send(name, rest);
    } catch (err) {
      throw linkFailure(err);
    }
  }

  async script(script: Script, keys: string[], args: string[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.command(["EVALSHA", script.sha, ...tail]);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return await this.command(["EVAL", script.body, ...tail]);
    }
  }

  close(): void {
    this.shut();
  }
}

/**
 * Redis over TCP with Bun's built-in client: one connection for commands (pipelined by Bun)
 * and one subscribed to the cluster channel.
 */
export function tcpTransport(url: string): Transport {
  return {
    target: url.replace(/\/\/[^@/]*@/, "//***@"),
    async open(channel: string, events: LinkEvents, name: string): Promise<Link> {
      const cmd = client(url);
      const sub = client(url);
      const link = new TcpLink(cmd, sub);
      const lost = (which: string) => (err: Error) => {
        if (link.shut()) events.lost(`${which} connection closed: ${err?.message ?? "closed"}`);
      };
      cmd.onclose = lost("command");
      sub.onclose = lost("subscriber");
      try {
        await Promise.all([cmd.connect(), sub.connect()]);
        await cmd.send("CLIENT", ["SETNAME", `edgepush:${name}:cmd`]);
        await sub.send("CLIENT", ["SETNAME", `edgepush:${name}:sub`]);
        await sub.subscribe(channel, (payload) => events.message(payload));
      } catch (err) {
        link.shut();
        throw linkFailure(err);
      }
      return link;
    },
  };
}

/**
 * The broker over plain Redis (TCP), at `broker.redisUrl`.
 *
 * @example
 * const broker = createRedisBroker();
 * await broker.start(ctx); // ctx.config.broker.redisUrl = "redis://127.0.0.1:6379"
 */
export function createRedisBroker(): Broker {
  return new ClusterBroker("redis", (config) => {
    if (!config.broker.redisUrl) throw new Error("broker.redisUrl (REDIS_URL) is not set");
    return tcpTransport(config.broker.redisUrl);
  });
}
