/**
 * Loaded before every test file (bunfig.toml `preload`): hooks for the whole run.
 */
import { afterAll } from "bun:test";
import { removeNodeDirs } from "./node.ts";

afterAll(removeNodeDirs);
