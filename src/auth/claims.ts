import type { JWTPayload } from "jose";
import { isUserId } from "../rooms/names.ts";
import { compileRoomPatterns } from "../rooms/patterns.ts";
import type { Identity } from "./jwt.ts";

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

/** What is wrong with the claims jose does not check itself, or undefined when nothing is. */
export function claimProblem(payload: JWTPayload): string | undefined {
  if (typeof payload.sub !== "string" || payload.sub === "") {
    return "sub must be a non-empty string";
  }
  if (!isUserId(payload.sub)) {
    return "sub is not a valid user id (1-256 characters, well-formed, no control characters)";
  }
  if (payload.rooms !== undefined && !isStringArray(payload.rooms)) {
    return "rooms claim must be an array of strings";
  }
  return undefined;
}

/** The identity of a verified token whose claims passed `claimProblem`. */
export function identityOf(payload: JWTPayload): Identity {
  const rooms = payload.rooms as string[] | undefined;
  return {
    user: payload.sub as string,
    exp: payload.exp,
    rooms: compileRoomPatterns(rooms ?? []),
    claims: payload,
  };
}
