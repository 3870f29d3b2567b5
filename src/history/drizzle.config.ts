import { defineConfig } from "drizzle-kit";

/**
 * drizzle-kit settings for the history schema. Run from the repository root:
 * `npx drizzle-kit generate --config src/history/drizzle.config.ts`, then list the new file in
 * `src/history/migrations.ts` so the binary embeds it.
 */
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/history/schema.ts",
  out: "./src/history/drizzle",
});
