import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Every stored message; `data` is the payload as JSON text, `ts` milliseconds since 1970. */
export const messages = sqliteTable(
  "messages",
  {
    room: text("room").notNull(),
    offset: integer("offset").notNull(),
    epoch: text("epoch").notNull(),
    sender: text("sender"),
    data: text("data").notNull(),
    ts: integer("ts").notNull(),
  },
  (t) => [primaryKey({ columns: [t.room, t.offset] })],
);

/**
 * Each room's position: the epoch its offsets belong to and the last offset written.
 * `dirty` is 1 while offsets may have been handed out that are not written yet: a room found
 * dirty when the store opens lost them in an unclean stop and starts a new epoch.
 */
export const rooms = sqliteTable("rooms", {
  room: text("room").primaryKey(),
  epoch: text("epoch").notNull(),
  lastOffset: integer("last_offset").notNull().default(0),
  dirty: integer("dirty").notNull().default(0),
});

export type MessageRow = typeof messages.$inferSelect;

/** Facts about the database itself, such as its random id (`database_id`). */
export const meta = sqliteTable("edgepush_meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
