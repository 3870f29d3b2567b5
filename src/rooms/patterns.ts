const none = () => false;

/**
 * A matcher for one pattern where `*` matches any run of characters. Linear in the name's
 * length per star: the parts between stars are found left to right with `indexOf` (the
 * leftmost place for each part is always the best one), so no name can make it backtrack.
 */
function globMatcher(pattern: string): (room: string) => boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return (room) => room === pattern;
  const head = parts[0] ?? "";
  const tail = parts[parts.length - 1] ?? "";
  const middle = parts.slice(1, -1).filter((p) => p !== "");
  const least = head.length + tail.length;
  return (room) => {
    if (room.length < least || !room.startsWith(head) || !room.endsWith(tail)) return false;
    const end = room.length - tail.length;
    let at = head.length;
    for (const part of middle) {
      const i = room.indexOf(part, at);
      if (i < 0 || i + part.length > end) return false;
      at = i + part.length;
    }
    return true;
  };
}

/** Compiles `rooms` claim patterns, where `*` matches any run of characters. */
export function compileRoomPatterns(patterns: readonly string[]): (room: string) => boolean {
  if (patterns.length === 0) return none;
  const exact = new Set(patterns.filter((p) => !p.includes("*")));
  const globs = patterns.filter((p) => p.includes("*")).map(globMatcher);
  return (room) => exact.has(room) || globs.some((match) => match(room));
}
