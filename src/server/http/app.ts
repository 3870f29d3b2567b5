import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { apiKeyOf } from "../../auth/apikeys.ts";
import { mintToken } from "../../auth/mint.ts";
import { clientBundle } from "../../client/bundle.ts";
import { demoPage } from "../../demo/index.ts";
import { EdgepushError, ErrorCode, httpStatusOf } from "../../protocol/codes.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "../../protocol/depth.ts";
import { historyItem } from "../../protocol/serialize.ts";
import { BROADCAST_ROOM, inboxOf, isRoomName, isSystemRoom } from "../../rooms/names.ts";
import type { NodeContext } from "../context.ts";
import { RateLimiter } from "./ratelimit.ts";
import * as routes from "./routes.ts";

type App = OpenAPIHono;

/**
 * Paths that answer without an API key: health, readiness and metrics, as PROTOCOL.md says,
 * and the development-mode token route of the demo page (404 in production mode).
 */
const OPEN_PATHS = new Set(["/v1/health", "/v1/ready", "/metrics", "/v1/dev/token"]);

/** The HTTP error body of PROTOCOL.md, with the status of its code. */
export function errorResponse(c: Context, code: ErrorCode, message: string): Response {
  return c.json({ error: { code, message } }, httpStatusOf[code]);
}

/**
 * The request body as text, read until it passes `max` bytes (undefined then): a body sent
 * without content-length is never held whole when it is too large.
 */
async function readBounded(req: Request, max: number): Promise<string | undefined> {
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function validationMessage(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
    .join("; ");
}

function guard(app: App, ctx: NodeContext): void {
  const limiter = new RateLimiter(ctx.config.limits.apiRequestsPerSecond);
  app.use("*", async (c, next) => {
    const path = c.req.path;
    let bucket: string | undefined;
    if (path.startsWith("/v1/") && !OPEN_PATHS.has(path)) {
      // The bucket is the key itself, however the header spells the words around it.
      bucket = apiKeyOf(ctx.config.auth.apiKeys, c.req.header("authorization"));
      if (bucket === undefined) {
        ctx.metrics.error(ErrorCode.unauthorized);
        return errorResponse(c, ErrorCode.unauthorized, "missing or wrong API key");
      }
    } else if (path === "/v1/dev/token") {
      bucket = path;
    }
    const wait = bucket === undefined ? 0 : limiter.take(bucket);
    if (wait > 0) {
      ctx.metrics.error(ErrorCode.rateLimited);
      c.header("retry-after", String(wait));
      return errorResponse(
        c,
        ErrorCode.rateLimited,
        `over ${ctx.config.limits.apiRequestsPerSecond} requests per second; retry in ${wait} s`,
      );
    }
    if (c.req.method === "POST") {
      const max = ctx.config.limits.maxFrameBytes;
      const declared = Number(c.req.header("content-length") ?? 0);
      const text = declared > max ? undefined : await readBounded(c.req.raw, max);
      if (text === undefined) {
        ctx.metrics.error(ErrorCode.tooLarge);
        return errorResponse(c, ErrorCode.tooLarge, `body over ${max} bytes`);
      }
      // Handlers and validators read the body from Hono's cache, which holds promises (its
      // declared type says otherwise).
      // An empty JSON body reads as `{}`: the calls whose body is optional take it as absent.
      const json = /^application\/json\b/i.test(c.req.header("content-type") ?? "");
      const body = json && text.trim() === "" ? "{}" : text;
      (c.req.bodyCache as unknown as { text: Promise<string> }).text = Promise.resolve(body);
      if (nestsDeeperThan(text)) {
        ctx.metrics.error(ErrorCode.badRequest);
        return errorResponse(
          c,
          ErrorCode.badRequest,
          `body nests deeper than ${MAX_JSON_DEPTH} levels`,
        );
      }
    }
    await next();
  });
  app.onError((err, c) => {
    if (err instanceof EdgepushError) {
      ctx.metrics.error(err.code);
      return errorResponse(c, err.code, err.message);
    }
    const status = (err as { status?: number }).status;
    if (status !== undefined && status >= 400 && status < 500) {
      ctx.metrics.error(ErrorCode.badRequest);
      const hint = status === 415 ? " (send content-type: application/json)" : "";
      return errorResponse(c, ErrorCode.badRequest, `${err.message}${hint}`);
    }
    ctx.log.error("http handler failed", { path: c.req.path, error: String(err) });
    ctx.metrics.error(ErrorCode.internal);
    return errorResponse(c, ErrorCode.internal, "internal error");
  });
  app.notFound((c) =>
    errorResponse(c, ErrorCode.notFound, `no route for ${c.req.method} ${c.req.path}`),
  );
}

async function publishTo(ctx: NodeContext, room: string, data: unknown) {
  const message = await ctx.broker.publish({ room, data });
  ctx.delivery.deliver(message);
  ctx.store.append(message);
  ctx.metrics.publishes++;
  return { room, offset: message.offset, epoch: message.epoch };
}

function messaging(app: App, ctx: NodeContext): void {
  app.openapi(routes.publishRoute, async (c) => {
    const { room, data } = c.req.valid("json");
    if (isSystemRoom(room)) {
      throw new EdgepushError(
        ErrorCode.badRequest,
        "use /v1/send for inboxes and /v1/broadcast for $broadcast",
      );
    }
    if (!isRoomName(room)) throw new EdgepushError(ErrorCode.badRequest, "invalid room name");
    return c.json(await publishTo(ctx, room, data), 200);
  });
  app.openapi(routes.sendRoute, async (c) => {
    const { to, data } = c.req.valid("json");
    return c.json(await publishTo(ctx, inboxOf(to), data), 200);
  });
  app.openapi(routes.broadcastRoute, async (c) => {
    const { data } = c.req.valid("json");
    return c.json(await publishTo(ctx, BROADCAST_ROOM, data), 200);
  });
}

/**
 * A room from a path, already percent-decoded by the router. Known gaps: a malformed
 * percent-encoding (`%FF`) is kept as written rather than refused, and the names `.` and `..`
 * cannot be reached at all, since URL parsing drops such path segments, encoded or not.
 */
function roomParam(room: string): string {
  if (!isRoomName(room) && !isSystemRoom(room)) {
    throw new EdgepushError(ErrorCode.badRequest, "invalid room name");
  }
  return room;
}

function listings(app: App, ctx: NodeContext): void {
  app.openapi(routes.usersRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await ctx.broker.users(limit, cursor);
    return c.json({ users: page.items, cursor: page.cursor }, 200);
  });
  app.openapi(routes.userRoute, async (c) =>
    c.json(await ctx.broker.user(c.req.valid("param").user), 200),
  );
  app.openapi(routes.disconnectRoute, async (c) => {
    const { user } = c.req.valid("param");
    const text = await c.req.text();
    const body = text ? (c.req.valid("json") ?? {}) : {};
    const code = body.code ?? 4003;
    const disconnected = await ctx.broker.disconnect(
      user,
      code,
      body.reason ?? "disconnected by the server",
    );
    ctx.log.info("user disconnected by API", { user, code, disconnected });
    return c.json({ disconnected }, 200);
  });
  app.openapi(routes.roomsRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await ctx.broker.rooms(limit, cursor);
    return c.json({ rooms: page.items, cursor: page.cursor }, 200);
  });
  app.openapi(routes.presenceRoute, async (c) => {
    const room = roomParam(c.req.valid("param").room);
    if (!ctx.namespaces.of(room).presence) {
      throw new EdgepushError(ErrorCode.forbidden, `presence is off for "${room}"`);
    }
    return c.json({ room, users: await ctx.broker.presence(room) }, 200);
  });
  app.openapi(routes.historyRoute, async (c) => {
    const room = roomParam(c.req.valid("param").room);
    const q = c.req.valid("query");
    if (q.since !== undefined && q.before !== undefined) {
      throw new EdgepushError(ErrorCode.badRequest, "give since or before, not both");
    }
    const limit = Math.min(q.limit ?? 50, ctx.config.limits.historyLimit);
    const latest = await ctx.broker.position(room);
    const messages = await ctx.reader.query(room, latest.epoch, latest.offset, { ...q, limit });
    return c.json({ room, epoch: latest.epoch, messages: messages.map(historyItem) }, 200);
  });
  app.openapi(routes.nodesRoute, async (c) => c.json({ nodes: await ctx.broker.nodes() }, 200));
}

function operations(app: App, ctx: NodeContext): void {
  app.openapi(routes.healthRoute, (c) =>
    c.json({ status: "ok" as const, node: ctx.node, region: ctx.region }, 200),
  );
  app.openapi(routes.readyRoute, (c) => {
    if (ctx.draining) return errorResponse(c, ErrorCode.unavailable, "draining") as never;
    if (!ctx.broker.up())
      return errorResponse(c, ErrorCode.unavailable, "broker unreachable") as never;
    if (!ctx.store.healthy()) {
      return errorResponse(c, ErrorCode.unavailable, "history backlog over its bound") as never;
    }
    return c.json({ status: "ready" }, 200);
  });
  app.get("/metrics", (c) =>
    c.text(ctx.metrics.render(), 200, { "content-type": "text/plain; version=0.0.4" }),
  );
  app.post("/v1/dev/token", async (c) => {
    if (ctx.config.server.mode !== "development") {
      return errorResponse(c, ErrorCode.notFound, "development tokens are off in production mode");
    }
    const body = (await c.req.json().catch(() => ({}))) as { user?: unknown };
    const user = typeof body.user === "string" ? body.user.trim() : "";
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(user)) {
      return errorResponse(c, ErrorCode.badRequest, "user: 1-64 letters, digits, _ . -");
    }
    return c.json({ token: await mintToken(ctx.config.auth, { sub: user, ttlSeconds: 3600 }) });
  });
  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "edgepush HTTP API", version: "1" },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
  });
}

function pages(app: App, ctx: NodeContext): void {
  if (!ctx.config.server.demo) return;
  app.get("/", (c) => c.html(demoPage()));
  app.get("/client.js", async (c) =>
    c.body(await clientBundle(), 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=300",
    }),
  );
}

/** The node's HTTP API: messaging, listings, health, readiness, metrics and the OpenAPI document. */
export function createHttpApp(ctx: NodeContext): App {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        ctx.metrics.error(ErrorCode.badRequest);
        return errorResponse(c, ErrorCode.badRequest, validationMessage(result.error));
      }
    },
  });
  guard(app, ctx);
  messaging(app, ctx);
  listings(app, ctx);
  operations(app, ctx);
  pages(app, ctx);
  return app;
}
