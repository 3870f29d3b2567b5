import type { Client } from "@libsql/client";
import type { Retention } from "./types.ts";

/** Rooms read per page while walking the rooms table. */
const ROOM_PAGE = 200;
/** Rows deleted per statement, so a write never waits long behind retention. */
const DELETE_BATCH = 500;

const yieldToWriters = () => new Promise<void>((resolve) => setImmediate(resolve));

interface RoomRow {
  room: string;
  epoch: string;
  last: number;
}

/**
 * Deletes, in batches of at most DELETE_BATCH rows, a room's messages beyond its retention:
 * offsets at or below `last - size`, rows older than the TTL, and rows of another epoch above
 * the room's last offset (left by a sequence that started again lower). Rows of an earlier
 * epoch below it stay readable history until size or age removes them. Returns the rows
 * removed.
 */
async function trimRoom(client: Client, r: RoomRow, keep: Retention, now: number): Promise<number> {
  const floor = r.last - keep.size;
  const minTs = keep.ttlSeconds > 0 ? now - keep.ttlSeconds * 1000 : 0;
  let removed = 0;
  for (;;) {
    const rs = await client.execute({
      sql: `DELETE FROM messages WHERE room = ?1 AND offset IN (
        SELECT offset FROM messages WHERE room = ?1
          AND (offset <= ?2 OR ts < ?4 OR (epoch <> ?3 AND offset > ?6))
        ORDER BY offset LIMIT ?5)`,
      args: [r.room, floor, r.epoch, minTs, DELETE_BATCH, r.last],
    });
    removed += rs.rowsAffected;
    if (rs.rowsAffected < DELETE_BATCH) return removed;
    await yieldToWriters();
  }
}

/**
 * One retention pass over every room, in pages of rooms, yielding to writes between
 * statements. Rooms rows (positions) are never removed. Returns the messages removed.
 */
export async function retentionPass(
  client: Client,
  retentionOf: (room: string) => Retention,
  now = Date.now(),
): Promise<number> {
  let after = "";
  let removed = 0;
  for (;;) {
    const page = await client.execute({
      sql: "SELECT room, epoch, last_offset FROM rooms WHERE room > ? ORDER BY room LIMIT ?",
      args: [after, ROOM_PAGE],
    });
    for (const row of page.rows) {
      const r = { room: String(row.room), epoch: String(row.epoch), last: Number(row.last_offset) };
      removed += await trimRoom(client, r, retentionOf(r.room), now);
      after = r.room;
    }
    if (page.rows.length < ROOM_PAGE) return removed;
    await yieldToWriters();
  }
}
