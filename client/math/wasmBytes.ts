import { readFileSync } from "node:fs";

// The math core's bytes. Here (the repository, run as ESM by tsx and Hardhat) they are read from
// client/wasm/build next to the sources. The package build (scripts/client/build.mjs) replaces
// this module in both of its builds with one that embeds the 2.6 kB core as base64: CommonJS has
// no import.meta and ESM no __dirname, so no file lookup works from both, and an embedded core
// also survives bundlers.

/** Where the core is read from, for error messages. */
// eslint-disable-next-line @typescript-eslint/ban-ts-comment -- an expect-error would fail the ESM build, which has no error here
// @ts-ignore TS1343 in the CommonJS build, whose output of this module the package build replaces
export const WASM_SOURCE: string = new URL("../wasm/build/maru_math.wasm", import.meta.url).pathname;

/** The core's WebAssembly bytes. */
export function wasmBytes(): Uint8Array {
  return readFileSync(WASM_SOURCE);
}
