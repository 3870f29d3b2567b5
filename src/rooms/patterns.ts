const none = () => false;

/** Compiles `rooms` claim patterns, where `*` matches any run of characters. */
export function compileRoomPatterns(patterns: readonly string[]): (room: string) => boolean {
  if (patterns.length === 0) return none;
  const parts = patterns.map((p) =>
    p
      .split("*")
      .map((s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"))
      .join(".*"),
  );
  const re = new RegExp(`^(?:${parts.join("|")})$`);
  return (room) => re.test(room);
}
