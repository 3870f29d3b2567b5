import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../config/schema.ts";
import type { ClusterBroker } from "../../src/broker/cluster.ts";
import { createRedisBroker } from "../../src/broker/redis.ts";
import type { LocalView, PresenceEvent } from "../../src/broker/types.ts";
import { createUpstashBroker } from "../../src/broker/upstash.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createHistoryStore } from "../../src/history/index.ts";
import type { HistoryStore } from "../../src/history/types.ts";
import { silentLogger } from "../../src/log.ts";
import type { Message } from "../../src/protocol/frames.ts";
import type { RedisServer } from "../support/redis.ts";
import type { UpstashGateway } from "../support/upstash-gateway.ts";

export type Kind = "redis" | "upstash";

/**
 * Environment of a node process in a cluster suite: its broker, the Redis (or the gateway in
 * front of it), the history database every node shares, and the node's id and region.
 */
export function clusterEnv(
  kind: Kind,
  redis: RedisServer,
  gateway: UpstashGateway | undefined,
  historyFile: string,
  id: string,
): Record<string, string> {
  return {
    EDGEPUSH_BROKER: kind,
    REDIS_URL: redis.url,
    UPSTASH_REDIS_REST_URL: gateway?.url ?? "",
    UPSTASH_REDIS_REST_TOKEN: gateway?.token ?? "",
    EDGEPUSH_DB_URL: `file:${historyFile}`,
    FLY_MACHINE_ID: id,
    FLY_REGION: `r-${id}`,
    EDGEPUSH_LOG_LEVEL: "info",
  };
}

/** Connections of one simulated node, as its registry would report them. */
export class Local implements LocalView {
  readonly conns = new Map<string, number>();
  readonly roomUsers = new Map<string, Map<string, number>>();
  readonly closed: { user: string; code: number }[] = [];

  connect(user: string, n = 1): void {
    this.conns.set(user, (this.conns.get(user) ?? 0) + n);
  }
  enter(room: string, user: string): void {
    const users = this.roomUsers.get(room) ?? new Map<string, number>();
    users.set(user, (users.get(user) ?? 0) + 1);
    this.roomUsers.set(room, users);
  }
  exit(room: string, user: string): void {
    const users = this.roomUsers.get(room);
    users?.delete(user);
    if (users?.size === 0) this.roomUsers.delete(room);
  }
  users(): Map<string, number> {
    return new Map(this.conns);
  }
  rooms(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [room, users] of this.roomUsers) {
      out.set(
        room,
        [...users.values()].reduce((a, b) => a + b, 0),
      );
    }
    return out;
  }
  presence(room: string): string[] {
    return [...(this.roomUsers.get(room)?.keys() ?? [])];
  }
  connections(): number {
    return [...this.conns.values()].reduce((a, b) => a + b, 0);
  }
  disconnect(user: string, code: number): number {
    const n = this.conns.get(user) ?? 0;
    this.conns.delete(user);
    if (n > 0) this.closed.push({ user, code });
    return n;
  }
}

/** What a broker handed to its node. */
export class Sink {
  readonly messages: Message[] = [];
  readonly events: PresenceEvent[] = [];
  readonly statuses: boolean[] = [];
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  message = (m: Message) => {
    this.messages.push(m);
    this.#wake();
  };
  presence = (e: PresenceEvent) => {
    this.events.push(e);
    this.#wake();
  };
  status = (up: boolean) => {
    this.statuses.push(up);
    this.#wake();
  };

  /** Resolves once `check` holds after something arrives; rejects after `ms`. */
  when(check: () => boolean, what: string, ms = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      this.#waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) {
      if (w.check()) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }
}

export interface TestNode {
  id: string;
  broker: ClusterBroker;
  local: Local;
  sink: Sink;
  store: HistoryStore;
  config: Config;
}

/** Where brokers of a suite connect: a real Redis, and for `upstash` the gateway before it. */
export interface Backend {
  kind: Kind;
  redis: RedisServer;
  gateway?: UpstashGateway;
}

/** A folder with one shared history database for a suite's nodes. */
export function historyDir(): { url: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), "edgepush-cluster-"));
  return {
    url: `file:${join(dir, "history.db")}`,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts one broker as a node would, with its own store on the shared database file. */
export async function startNode(
  backend: Backend,
  id: string,
  historyUrl: string,
  broker: Partial<Config["broker"]> = {},
): Promise<TestNode> {
  const config = loadConfig({
    env: {},
    overrides: {
      node: { id, region: "test" },
      history: { url: historyUrl, flushMs: 10 },
      broker: {
        kind: backend.kind,
        redisUrl: backend.redis.url,
        upstashUrl: backend.gateway?.url ?? "",
        upstashToken: backend.gateway?.token ?? "",
        presenceTtlSeconds: 3,
        ...broker,
      },
    },
  });
  const store = createHistoryStore({
    config: config.history,
    log: silentLogger,
    retentionOf: () => ({ size: 1000, ttlSeconds: 0 }),
  });
  await store.open();
  const created = backend.kind === "redis" ? createRedisBroker() : createUpstashBroker();
  const node: TestNode = {
    id,
    broker: created as ClusterBroker,
    local: new Local(),
    sink: new Sink(),
    store,
    config,
  };
  await node.broker.start({
    config,
    node: id,
    region: "test",
    startedAt: new Date().toISOString(),
    store,
    local: node.local,
    sink: node.sink,
    log: silentLogger,
  });
  return node;
}

/** Stops a node's broker and store. */
export async function stopNode(node: TestNode): Promise<void> {
  await node.broker.close();
  await node.store.close();
}
