#!/usr/bin/env bun
/**
 * Builds the single `edgepush` executable with `bun build --compile`.
 *
 * The libSQL driver picks its native addon at run time with a computed `require`, which the
 * bundler cannot follow, so the binary would look for `@libsql/<platform>` on disk and fail.
 * The plugin below rewrites that one call into a static `require` of the addon's `.node`
 * file for the platform being built, which Bun then embeds in the executable.
 *
 * usage: bun src/build/compile.ts [--entry src/cli.ts] [--outfile dist/edgepush]
 */
import { readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import type { BunPlugin } from "bun";
import { buildClientBundle } from "../client/bundle.ts";

/** Where the build starts and what it writes. */
export interface CompileOptions {
  entry: string;
  outfile: string;
}

/** The exact text of libsql's computed addon require, as published in libsql 0.5. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: this is source text to find, not a template
const DYNAMIC_NATIVE_REQUIRE = "require(`@libsql/${target}`)";

/** The libSQL addon package for the machine running the build (glibc on Linux). */
export function addonPackage(platform = process.platform, arch = process.arch): string {
  return platform === "linux" ? `@libsql/linux-${arch}-gnu` : `@libsql/${platform}-${arch}`;
}

/** Resolves the absolute path of the addon's `.node` file, as installed beside `libsql`. */
export function addonPath(pkg = addonPackage()): string {
  const fromLibsql = createRequire(createRequire(import.meta.url).resolve("libsql"));
  return fromLibsql.resolve(`${pkg}/index.node`);
}

/** A bundler plugin that turns libSQL's computed addon `require` into a static one. */
export function embedLibsqlAddon(nodeFile: string): BunPlugin {
  return {
    name: "embed-libsql-addon",
    setup(build) {
      build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, async (args) => {
        const source = await readFile(args.path, "utf8");
        if (!source.includes(DYNAMIC_NATIVE_REQUIRE)) {
          throw new Error(`libsql loader changed: ${args.path} no longer has the expected require`);
        }
        const contents = source.replace(
          DYNAMIC_NATIVE_REQUIRE,
          `require(${JSON.stringify(nodeFile)})`,
        );
        return { contents, loader: "js" };
      });
    },
  };
}

/** Compiles `entry` into one executable at `outfile`; throws with the bundler's messages. */
export async function compile(opts: CompileOptions): Promise<void> {
  const result = await Bun.build({
    entrypoints: [opts.entry],
    compile: { outfile: opts.outfile },
    minify: true,
    sourcemap: "linked",
    plugins: [embedLibsqlAddon(addonPath())],
    // An executable cannot build the browser client from sources at run time: embed it.
    define: { EDGEPUSH_CLIENT_JS: JSON.stringify(await buildClientBundle()) },
  });
  if (!result.success) {
    throw new Error(result.logs.map((entry) => String(entry)).join("\n"));
  }
  // The executable embeds its own source map; the copy written beside it is not needed.
  await rm(`${opts.outfile}.map`, { force: true });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      entry: { type: "string", default: "src/cli.ts" },
      outfile: { type: "string", default: "dist/edgepush" },
    },
  });
  await compile({ entry: values.entry, outfile: values.outfile });
  process.stdout.write(`built ${values.outfile}\n`);
}
