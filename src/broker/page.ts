import type { Page } from "./types.ts";

/**
 * One page of a listing sorted by key: entries after `cursor`, at most `limit` of them, with
 * the cursor of the next page when more remain.
 */
export function pageOf<T>(
  entries: [string, T][],
  limit: number,
  cursor: string | undefined,
  shape: (key: string, value: T) => unknown,
): Page<never> {
  const sorted = entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const start = cursor === undefined ? 0 : sorted.findIndex(([k]) => k > cursor);
  const rest = start < 0 ? [] : sorted.slice(start);
  const items = rest.slice(0, limit).map(([k, v]) => shape(k, v)) as never[];
  const last = rest[limit - 1];
  return rest.length > limit && last ? { items, cursor: last[0] } : { items };
}
