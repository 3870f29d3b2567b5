import { join } from "node:path";

/** The browser build of the client SDK, made in memory for the server to serve at /client.js. */

const ENTRY = join(import.meta.dir, "index.ts");

let cached: Promise<string> | undefined;

async function build(): Promise<string> {
  const result = await Bun.build({
    entrypoints: [ENTRY],
    target: "browser",
    format: "esm",
    minify: true,
  });
  const output = result.outputs[0];
  if (!result.success || !output) {
    throw new Error(`client build failed: ${result.logs.map(String).join("\n")}`);
  }
  return output.text();
}

/**
 * The client SDK as one ES module for browsers, built with `Bun.build` on the first call and
 * cached; a failed build is not cached, so the next call tries again.
 *
 * @example
 * app.get("/client.js", async (c) => c.body(await clientBundle(), 200, { "content-type": "text/javascript" }));
 */
export function clientBundle(): Promise<string> {
  if (!cached) {
    cached = build();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}
