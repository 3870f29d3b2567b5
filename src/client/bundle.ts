import { join } from "node:path";

/** The browser build of the client SDK, for the server to serve at /client.js. */

/**
 * Set at compile time by the executable's build (`define`), which cannot read source files
 * at run time; undefined when running from source.
 */
declare const EDGEPUSH_CLIENT_JS: string | undefined;

const ENTRY = join(import.meta.dir, "index.ts");

let cached: Promise<string> | undefined;

/** Builds the client SDK into one minified ES module for browsers, in memory. */
export async function buildClientBundle(): Promise<string> {
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

function embedded(): string | undefined {
  return typeof EDGEPUSH_CLIENT_JS === "string" ? EDGEPUSH_CLIENT_JS : undefined;
}

/**
 * The client SDK as one ES module for browsers: the copy embedded in a compiled executable,
 * else built with `Bun.build` on the first call and cached (a failed build is not cached).
 *
 * @example
 * app.get("/client.js", async (c) =>
 *   c.body(await clientBundle(), 200, { "content-type": "text/javascript" }));
 */
export function clientBundle(): Promise<string> {
  const text = embedded();
  if (text !== undefined) return Promise.resolve(text);
  if (!cached) {
    cached = buildClientBundle();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}
