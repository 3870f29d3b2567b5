import type { NodeContext } from "./context.ts";

/**
 * Returns memory left behind by a burst of new connections. Each handshake (upgrade, token
 * check, subscriptions, the `connected` frame) leaves short-lived garbage, and the engine
 * collects only when the program allocates again: a node that accepts thousands of
 * connections and then sits idle, as push servers do, would otherwise hold that garbage for
 * as long as it stays quiet. Called once a second; after at least `collectAfterOpens` new
 * connections and a second with none, it runs one full collection and logs its duration.
 */
export function burstCollector(ctx: NodeContext): () => void {
  const threshold = ctx.config.ws.collectAfterOpens;
  let collectedAt = ctx.opened;
  let lastSeen = ctx.opened;
  return () => {
    const opened = ctx.opened;
    const quiet = opened === lastSeen;
    lastSeen = opened;
    if (threshold === 0 || !quiet || opened - collectedAt < threshold) return;
    collectedAt = opened;
    const t0 = performance.now();
    Bun.gc(true);
    ctx.log.debug("collected after a burst of connections", {
      opened,
      ms: Number((performance.now() - t0).toFixed(1)),
    });
  };
}
