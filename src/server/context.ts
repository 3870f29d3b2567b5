import type { Server } from "bun";
import type { Config } from "../../config/schema.ts";
import type { TokenVerifier } from "../auth/jwt.ts";
import type { Broker } from "../broker/types.ts";
import type { HistoryStore } from "../history/types.ts";
import type { Logger } from "../log.ts";
import type { Namespaces } from "../rooms/names.ts";
import type { Connection, Socket } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import type { ExpiryWheel } from "./expiry.ts";
import type { Metrics } from "./metrics.ts";
import type { HistoryReader } from "./reader.ts";
import type { Registry } from "./registry.ts";

/** Everything the parts of a running node share. */
export interface NodeContext {
  config: Config;
  node: string;
  region: string;
  startedAt: string;
  log: Logger;
  metrics: Metrics;
  namespaces: Namespaces;
  verifier: TokenVerifier;
  broker: Broker;
  store: HistoryStore;
  registry: Registry;
  delivery: Delivery;
  reader: HistoryReader;
  expiry: ExpiryWheel;
  /** Set once Bun.serve is listening. */
  server?: Server<Connection>;
  /** Open sockets, authenticated or not, for the connection limit. */
  sockets: number;
  /** Sockets ever opened on this node. */
  opened: number;
  /** Open sockets not authenticated yet (the registry holds the others). */
  unauthenticated: Set<Socket>;
  /** True from SIGTERM/SIGINT on: the node refuses new connections and reports not ready. */
  draining: boolean;
}
