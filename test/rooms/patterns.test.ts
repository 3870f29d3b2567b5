import { describe, expect, test } from "bun:test";
import { compileRoomPatterns } from "../../src/rooms/patterns.ts";

describe("rooms claim patterns", () => {
  const cases: [string, string, boolean][] = [
    ["chat:*", "chat:lobby", true],
    ["chat:*", "chat:", true],
    ["chat:*", "chatx:lobby", false],
    ["*", "anything", true],
    ["*", "", true],
    ["team:*/general", "team:acme/general", true],
    ["team:*/general", "team:acme/random", false],
    ["team:*/general", "team:/general", true],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["a*b*c", "abcbc", true],
    ["ab*ba", "aba", false],
    ["ab*ba", "abba", true],
    ["x**y", "xy", true],
    ["*:*", "chat:lobby", true],
    ["*:*", "lobby", false],
    ["chat.*", "chatxlobby", false],
    ["chat.*", "chat.lobby", true],
    ["exact", "exact", true],
    ["exact", "exactly", false],
  ];
  for (const [pattern, room, expected] of cases) {
    test(`${pattern} ${expected ? "matches" : "does not match"} "${room}"`, () => {
      expect(compileRoomPatterns([pattern])(room)).toBe(expected);
    });
  }

  test("any one of several patterns grants the room; none grants nothing", () => {
    const grants = compileRoomPatterns(["news:*", "chat:lobby"]);
    expect(grants("news:today")).toBe(true);
    expect(grants("chat:lobby")).toBe(true);
    expect(grants("chat:other")).toBe(false);
    expect(compileRoomPatterns([])("chat:lobby")).toBe(false);
  });

  test("many stars against a long name that almost matches answer false at once", () => {
    // A backtracking regex would take years here (the test would hit its timeout).
    const grants = compileRoomPatterns([`priv:${"*a".repeat(12)}*b`]);
    for (let n = 100; n <= 4000; n *= 2) {
      expect(grants(`priv:${"a".repeat(n)}`)).toBe(false);
      expect(grants(`priv:${"a".repeat(n)}b`)).toBe(true);
    }
  });
});
