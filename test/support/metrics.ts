import type { NodeProcess } from "./node.ts";
import { until } from "./wait.ts";

/** One unlabelled value from a node's /metrics text, NaN when absent. */
export function metricValue(text: string, name: string): number {
  return Number(text.match(new RegExp(`^${name} (\\d+)`, "m"))?.[1] ?? Number.NaN);
}

/**
 * Resolves once the node reports every history row written and no room with unwritten
 * offsets, with at least `atLeast` rows written: a kill -9 from then on loses nothing.
 */
export async function historyWritten(node: NodeProcess, atLeast = 0): Promise<void> {
  await until(
    async () => {
      const text = await (await node.api("/metrics")).text();
      return (
        metricValue(text, "edgepush_history_pending") === 0 &&
        metricValue(text, "edgepush_history_dirty_rooms") === 0 &&
        metricValue(text, "edgepush_history_written_total") >= atLeast
      );
    },
    { what: "history written" },
  );
}
