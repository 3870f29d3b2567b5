import type { Client, InStatement, InValue } from "@libsql/client";
import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import type { Message, Position } from "../protocol/frames.ts";
import { type MessageRow, messages, rooms } from "./schema.ts";
import type { HistoryQuery } from "./types.ts";

/** The drizzle database over the history schema. */
export type Db = LibSQLDatabase<Record<string, never>>;

/** Rows per INSERT statement: 6 parameters each, well under SQLite's parameter limit. */
const ROWS_PER_INSERT = 1000;

function toMessage(r: MessageRow): Message {
  const m: Message = {
    room: r.room,
    offset: r.offset,
    epoch: r.epoch,
    data: JSON.parse(r.data),
    ts: r.ts,
  };
  if (r.sender !== null) m.from = r.sender;
  return m;
}

/** The last position of each room in a batch: the epoch of its latest row, and its offset. */
function lastPositions(batch: Message[]): Map<string, Position> {
  const out = new Map<string, Position>();
  for (const m of batch) {
    const seen = out.get(m.room);
    if (!seen || seen.epoch !== m.epoch || m.offset > seen.offset) {
      out.set(m.room, { offset: m.offset, epoch: m.epoch });
    }
  }
  return out;
}

/** One row's placeholders in the message insert: room, offset, epoch, sender, data, ts. */
const MESSAGE_VALUES = "(?,?,?,?,?,?)";

/**
 * Writes a batch in one transaction: multi-row inserts of the messages (a row at an existing
 * offset is replaced, as after an epoch change) and each room's last offset. A room whose
 * epoch changes takes the batch's offset; otherwise its last offset only moves forward.
 *
 * This is the hot write path, so it sends SQL text to the libSQL client directly: building
 * the same statements through drizzle's query builder cost more CPU than running them. The
 * SQL names the tables and columns of schema.ts.
 */
export async function writeBatch(client: Client, batch: Message[]): Promise<void> {
  if (batch.length === 0) return;
  const statements: InStatement[] = [];
  for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) {
    const chunk = batch.slice(i, i + ROWS_PER_INSERT);
    const args: InValue[] = [];
    for (const m of chunk) {
      args.push(m.room, m.offset, m.epoch, m.from ?? null, JSON.stringify(m.data ?? null), m.ts);
    }
    statements.push({
      sql:
        "INSERT INTO messages (room, offset, epoch, sender, data, ts) VALUES " +
        Array(chunk.length).fill(MESSAGE_VALUES).join(",") +
        " ON CONFLICT (room, offset) DO UPDATE SET epoch = excluded.epoch," +
        " sender = excluded.sender, data = excluded.data, ts = excluded.ts",
      args,
    });
  }
  const positions = [...lastPositions(batch)];
  const args: InValue[] = [];
  for (const [room, p] of positions) args.push(room, p.epoch, p.offset);
  statements.push({
    sql:
      "INSERT INTO rooms (room, epoch, last_offset) VALUES " +
      Array(positions.length).fill("(?,?,?)").join(",") +
      " ON CONFLICT (room) DO UPDATE SET last_offset = CASE WHEN rooms.epoch = excluded.epoch" +
      " THEN max(rooms.last_offset, excluded.last_offset) ELSE excluded.last_offset END," +
      " epoch = excluded.epoch",
    args,
  });
  await client.batch(statements, "write");
}

/** The stored position of a room, if the room is known. */
export async function storedPosition(db: Db, room: string): Promise<Position | undefined> {
  const found = await db
    .select({ offset: rooms.lastOffset, epoch: rooms.epoch })
    .from(rooms)
    .where(eq(rooms.room, room));
  return found[0];
}

/** Records a new room at offset 0 unless another caller recorded it first; returns the winner. */
export async function createRoom(db: Db, room: string, epoch: string): Promise<Position> {
  await db.insert(rooms).values({ room, epoch, lastOffset: 0 }).onConflictDoNothing();
  const stored = await storedPosition(db, room);
  if (!stored) throw new Error(`room "${room}" missing right after insert`);
  return stored;
}

/** Stored messages of a room for a query, oldest first. */
export async function readStored(db: Db, room: string, q: HistoryQuery): Promise<Message[]> {
  const base = db.select().from(messages);
  if (q.since !== undefined) {
    const where = and(eq(messages.room, room), gt(messages.offset, q.since));
    const upper = q.before !== undefined ? and(where, lt(messages.offset, q.before)) : where;
    const rows = await base.where(upper).orderBy(asc(messages.offset)).limit(q.limit);
    return rows.map(toMessage);
  }
  const where =
    q.before !== undefined
      ? and(eq(messages.room, room), lt(messages.offset, q.before))
      : eq(messages.room, room);
  const rows = await base.where(where).orderBy(desc(messages.offset)).limit(q.limit);
  return rows.map(toMessage).reverse();
}
