import { createRoute, z } from "@hono/zod-openapi";
import { isKnownRoom, isUserId } from "../../rooms/names.ts";

/** Request and response schemas of the HTTP API; they validate bodies and make /v1/openapi.json. */

const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "bad_request" }),
      message: z.string(),
    }),
  })
  .openapi("Error");

const Data = z.unknown().refine((v) => v !== undefined, { message: "data is required" });

const Position = z.object({ room: z.string(), offset: z.number().int(), epoch: z.string() });

const Message = z
  .object({
    room: z.string(),
    offset: z.number().int(),
    epoch: z.string(),
    from: z.string().optional(),
    data: z.unknown(),
    ts: z.number().int(),
  })
  .openapi("Message");

const errors = {
  400: { description: "Bad request", content: { "application/json": { schema: ErrorBody } } },
  401: {
    description: "Missing or wrong API key",
    content: { "application/json": { schema: ErrorBody } },
  },
  403: {
    description: "Not allowed here (presence off for the room's namespace)",
    content: { "application/json": { schema: ErrorBody } },
  },
  404: { description: "No such route", content: { "application/json": { schema: ErrorBody } } },
  413: { description: "Body too large", content: { "application/json": { schema: ErrorBody } } },
  429: {
    description: "Over limits.apiRequestsPerSecond for this API key",
    headers: z.object({ "Retry-After": z.string().openapi({ description: "Seconds to wait" }) }),
    content: { "application/json": { schema: ErrorBody } },
  },
  503: {
    description: "Broker unavailable",
    content: { "application/json": { schema: ErrorBody } },
  },
};

const security = [{ apiKey: [] }];

function json<T extends z.ZodType>(schema: T, description: string) {
  return { 200: { description, content: { "application/json": { schema } } }, ...errors };
}

function body<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { "application/json": { schema } } } };
}

/**
 * A `limit` in plain digits: any length, since a limit above the cap is taken as the cap
 * (PROTOCOL.md: "capped at 1000").
 */
const LimitDigits = z
  .string()
  .regex(/^\d+$/, "must be a whole number in digits")
  .transform((v) => Math.min(Number(v), Number.MAX_SAFE_INTEGER))
  .pipe(z.number().min(1));

/** A query parameter holding a whole number in plain digits (no sign, hex, exponent or blank). */
function digits(min: number) {
  return z
    .string()
    .regex(/^\d{1,15}$/, "must be a whole number in digits")
    .transform(Number)
    .pipe(z.number().int().min(min));
}

const Paging = z.object({
  limit: digits(1).pipe(z.number().max(1000)).default(100),
  cursor: z.string().optional(),
});

const RoomParam = z.object({
  room: z.string().refine(isKnownRoom, "not a room: a room name, $broadcast, or @ and a user id"),
});
const UserParam = z.object({
  user: z.string().refine(isUserId, "not a user id: 1-256 characters, no control characters"),
});

export const publishRoute = createRoute({
  method: "post",
  path: "/v1/publish",
  security,
  request: body(z.object({ room: z.string(), data: Data }).strict()),
  responses: json(Position, "The message's room, offset and epoch"),
});

export const sendRoute = createRoute({
  method: "post",
  path: "/v1/send",
  security,
  request: body(
    z
      .object({
        to: z.string().refine(isUserId, "1-256 characters without control characters"),
        data: Data,
      })
      .strict(),
  ),
  responses: json(Position, "The inbox room, offset and epoch"),
});

export const broadcastRoute = createRoute({
  method: "post",
  path: "/v1/broadcast",
  security,
  request: body(z.object({ data: Data }).strict()),
  responses: json(Position, "The $broadcast offset and epoch"),
});

export const usersRoute = createRoute({
  method: "get",
  path: "/v1/users",
  security,
  request: { query: Paging },
  responses: json(
    z.object({
      users: z.array(z.object({ user: z.string(), connections: z.number().int() })),
      cursor: z.string().optional(),
    }),
    "Online users, cluster-wide",
  ),
});

export const userRoute = createRoute({
  method: "get",
  path: "/v1/users/{user}",
  security,
  request: { params: UserParam },
  responses: json(
    z.object({ user: z.string(), online: z.boolean(), connections: z.number().int() }),
    "One user's connections",
  ),
});

export const disconnectRoute = createRoute({
  method: "post",
  path: "/v1/users/{user}/disconnect",
  security,
  request: {
    params: UserParam,
    body: {
      required: false,
      content: {
        "application/json": {
          schema: z
            .object({
              code: z
                .number()
                .int()
                .refine((c) => c === 1000 || (c >= 3000 && c <= 4999), "1000, or 3000-4999")
                .optional(),
              reason: z.string().max(120).optional(),
            })
            .strict(),
        },
      },
    },
  },
  responses: json(z.object({ disconnected: z.number().int() }), "Connections closed"),
});

export const roomsRoute = createRoute({
  method: "get",
  path: "/v1/rooms",
  security,
  request: { query: Paging },
  responses: json(
    z.object({
      rooms: z.array(z.object({ room: z.string(), subscribers: z.number().int() })),
      cursor: z.string().optional(),
    }),
    "Rooms with subscribers",
  ),
});

export const presenceRoute = createRoute({
  method: "get",
  path: "/v1/rooms/{room}/presence",
  security,
  request: { params: RoomParam },
  responses: json(z.object({ room: z.string(), users: z.array(z.string()) }), "Users in the room"),
});

export const historyRoute = createRoute({
  method: "get",
  path: "/v1/rooms/{room}/history",
  security,
  request: {
    params: RoomParam,
    query: z.object({
      since: digits(0).optional(),
      before: digits(1).optional(),
      limit: LimitDigits.optional(),
    }),
  },
  responses: json(
    z.object({ room: z.string(), epoch: z.string(), messages: z.array(Message) }),
    "Messages, oldest first",
  ),
});

export const nodesRoute = createRoute({
  method: "get",
  path: "/v1/nodes",
  security,
  responses: json(
    z.object({
      nodes: z.array(
        z.object({
          node: z.string(),
          region: z.string(),
          connections: z.number().int(),
          startedAt: z.string(),
        }),
      ),
    }),
    "Live nodes of the cluster",
  ),
});

export const healthRoute = createRoute({
  method: "get",
  path: "/v1/health",
  responses: {
    200: {
      description: "The process is up",
      content: {
        "application/json": {
          schema: z.object({ status: z.literal("ok"), node: z.string(), region: z.string() }),
        },
      },
    },
  },
});

export const readyRoute = createRoute({
  method: "get",
  path: "/v1/ready",
  responses: {
    200: {
      description: "Ready for traffic",
      content: { "application/json": { schema: z.object({ status: z.string() }) } },
    },
    503: {
      description: "Draining, broker down or history backlog over its bound",
      content: { "application/json": { schema: ErrorBody } },
    },
  },
});
