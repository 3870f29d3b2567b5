import type { Message } from "../protocol/frames.ts";
import type { HistoryQuery } from "./types.ts";

/**
 * Merges stored and queued messages of one room and applies a query to the result. A queued
 * row replaces a stored row at the same offset (it is the newer write).
 */
export function mergePage(
  stored: readonly Message[],
  queued: readonly Message[],
  q: HistoryQuery,
): Message[] {
  const byOffset = new Map<number, Message>();
  for (const m of stored) byOffset.set(m.offset, m);
  for (const m of queued) byOffset.set(m.offset, m);
  let all = [...byOffset.values()];
  if (q.since !== undefined) {
    const since = q.since;
    all = all.filter((m) => m.offset > since);
  }
  if (q.before !== undefined) {
    const before = q.before;
    all = all.filter((m) => m.offset < before);
  }
  all.sort((a, b) => a.offset - b.offset);
  return q.since !== undefined ? all.slice(0, q.limit) : all.slice(-q.limit);
}
