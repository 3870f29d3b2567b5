import { describe, expect, test } from "bun:test";
import { checkApiKey } from "../../src/auth/apikeys.ts";

const KEY = "api-key-0123456789abcdef";
const OTHER = "second-key-abcdefghijklmnop";

describe("HTTP API keys", () => {
  test("a request with Bearer and a configured key is let in", () => {
    expect(checkApiKey([KEY], `Bearer ${KEY}`)).toBe(true);
    expect(checkApiKey([KEY, OTHER], `Bearer ${OTHER}`)).toBe(true);
  });

  test("the scheme is case-insensitive and surrounding blanks are ignored", () => {
    expect(checkApiKey([KEY], `bearer ${KEY}`)).toBe(true);
    expect(checkApiKey([KEY], `BEARER   ${KEY} `)).toBe(true);
  });

  test("a wrong, truncated or extended key is refused", () => {
    expect(checkApiKey([KEY], `Bearer ${OTHER}`)).toBe(false);
    expect(checkApiKey([KEY], `Bearer ${KEY.slice(0, -1)}`)).toBe(false);
    expect(checkApiKey([KEY], `Bearer ${KEY}x`)).toBe(false);
    expect(checkApiKey([KEY], `Bearer ${KEY.toUpperCase()}`)).toBe(false);
  });

  test("a missing header or another scheme is refused", () => {
    expect(checkApiKey([KEY], undefined)).toBe(false);
    expect(checkApiKey([KEY], "")).toBe(false);
    expect(checkApiKey([KEY], KEY)).toBe(false);
    expect(checkApiKey([KEY], `Basic ${KEY}`)).toBe(false);
    expect(checkApiKey([KEY], "Bearer ")).toBe(false);
    expect(checkApiKey([KEY], `Bearer ${KEY} ${KEY}`)).toBe(false);
  });

  test("with no keys configured every request is refused", () => {
    expect(checkApiKey([], `Bearer ${KEY}`)).toBe(false);
    expect(checkApiKey([""], "Bearer ")).toBe(false);
  });
});
