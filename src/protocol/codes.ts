/**
 * The stable codes of the wire protocol: error codes carried by `error` frames and
 * HTTP error bodies, and WebSocket close codes. Version 1 never changes or removes one.
 */

/** Error codes of the `error` frame and of HTTP error bodies. */
export const ErrorCode = {
  badRequest: "bad_request",
  unknownType: "unknown_type",
  unauthorized: "unauthorized",
  forbidden: "forbidden",
  notFound: "not_found",
  notSubscribed: "not_subscribed",
  tooLarge: "too_large",
  rateLimited: "rate_limited",
  unavailable: "unavailable",
  internal: "internal",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP status that the API answers for each error code. */
export const httpStatusOf: Record<ErrorCode, 400 | 401 | 403 | 404 | 413 | 429 | 500 | 503> = {
  bad_request: 400,
  unknown_type: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  not_subscribed: 400,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** WebSocket close codes and what they mean to a client. */
export const CloseCode = {
  normal: 1000,
  policyViolation: 1008,
  tooLarge: 1009,
  internalError: 1011,
  restarting: 1012,
  overloaded: 1013,
  unauthorized: 4001,
  forbidden: 4003,
  tokenExpired: 4004,
  slowConsumer: 4008,
  connectTimeout: 4009,
  rateLimited: 4029,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Short reason strings sent with each close code (a close reason is at most 123 bytes). */
export const closeReason: Record<CloseCode, string> = {
  1000: "normal close",
  1008: "policy violation: repeated bad frames",
  1009: "frame too large",
  1011: "internal error",
  1012: "server restarting",
  1013: "overloaded: connection limit reached",
  4001: "unauthorized",
  4003: "forbidden: disconnected by the server",
  4004: "token expired",
  4008: "slow consumer: too much unsent data",
  4009: "no connect frame in time",
  4029: "rate limited",
};

/** An error with a protocol code, thrown anywhere and turned into an error frame or HTTP body. */
export class EdgepushError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "EdgepushError";
    this.code = code;
  }
}
