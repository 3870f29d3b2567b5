import { z } from "zod";

/**
 * The schema of edgepush's configuration. `config/config.yaml` holds every key with its
 * default and a comment; this schema is what the loader validates the merged result against.
 */

const seconds = z.number().positive();
const count = z.number().int().positive();

/** Options of one namespace (the part of a room name before its first `:`). */
export const namespaceSchema = z
  .object({
    historySize: z.number().int().min(0),
    historyTtlSeconds: z.number().int().min(0),
    presence: z.boolean(),
    publish: z.enum(["clients", "server"]),
    subscribe: z.enum(["authenticated", "token"]),
  })
  .strict();

const namespacePatch = namespaceSchema.partial().strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(0).max(65535),
        mode: z.enum(["production", "development"]),
        demo: z.boolean(),
      })
      .strict(),
    node: z
      .object({
        id: z.string(),
        region: z.string(),
      })
      .strict(),
    log: z
      .object({
        level: z.enum(["debug", "info", "warn", "error"]),
        format: z.enum(["auto", "json", "pretty"]),
      })
      .strict(),
    auth: z
      .object({
        secret: z.string(),
        publicKey: z.string(),
        jwksUrl: z.string(),
        algorithms: z.array(z.string().min(1)).min(1),
        issuer: z.string(),
        audience: z.string(),
        requireExp: z.boolean(),
        clockToleranceSeconds: z.number().min(0),
        anonymous: z.boolean(),
        apiKeys: z.array(z.string().min(16)),
      })
      .strict(),
    ws: z
      .object({
        path: z.string().startsWith("/"),
        connectTimeoutSeconds: seconds,
        pingSeconds: count,
        idleTimeoutSeconds: count.max(960),
        collectAfterOpens: z.number().int().min(0),
      })
      .strict(),
    limits: z
      .object({
        maxFrameBytes: count,
        framesPerSecond: count,
        rateLimitStrikes: count,
        badFrames: count,
        backpressureBytes: count,
        maxConnections: count,
        apiRequestsPerSecond: count,
        historyLimit: count,
      })
      .strict(),
    broker: z
      .object({
        kind: z.enum(["memory", "redis", "upstash"]),
        redisUrl: z.string(),
        upstashUrl: z.string(),
        upstashToken: z.string(),
        prefix: z.string(),
        hotHistorySize: count,
        presenceTtlSeconds: count,
      })
      .strict(),
    history: z
      .object({
        url: z.string().min(1),
        authToken: z.string(),
        syncUrl: z.string(),
        syncIntervalSeconds: z.number().min(0),
        memoryWindow: count,
        memoryWindowBytes: count,
        flushMs: count,
        batchSize: count,
        bufferLimit: count,
        retentionIntervalSeconds: count,
      })
      .strict(),
    drain: z
      .object({
        batchSize: count,
        batchIntervalMs: z.number().int().min(0),
        timeoutSeconds: seconds,
      })
      .strict(),
    namespaces: z
      .object({ default: namespaceSchema })
      .catchall(namespacePatch)
      .refine((n) => Object.keys(n).every((k) => /^[A-Za-z0-9_\-./]{1,128}$/.test(k)), {
        message: "namespace names use the characters of room names, without ':'",
      }),
  })
  .strict();

/** The validated configuration every part of edgepush reads. */
export type Config = z.infer<typeof configSchema>;
export type NamespaceOptions = z.infer<typeof namespaceSchema>;
