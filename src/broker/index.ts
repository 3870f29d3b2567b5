import type { Config } from "../../config/schema.ts";
import { MemoryBroker } from "./memory.ts";
import type { Broker } from "./types.ts";

/** The broker named by `broker.kind`, chosen once when the node starts. */
export async function createBroker(config: Config): Promise<Broker> {
  switch (config.broker.kind) {
    case "memory":
      return new MemoryBroker();
    case "redis": {
      const { createRedisBroker } = await import("./redis.ts");
      return createRedisBroker();
    }
    case "upstash": {
      const { createUpstashBroker } = await import("./upstash.ts");
      return createUpstashBroker();
    }
  }
}
