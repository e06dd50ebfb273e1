import { readFileSync, readdirSync } from "node:fs";
import type { AddressesBook } from "../contracts.js";

// The addresses books of this folder (<chainId>.json, added by a deployment). Here (the
// repository, run as ESM) the folder is read; the package build (scripts/client/build.mjs)
// replaces this module in both of its builds with one that embeds the books, as it does the wasm
// core (client/math/wasmBytes.ts says why).

// eslint-disable-next-line @typescript-eslint/ban-ts-comment -- an expect-error would fail the ESM build, which has no error here
// @ts-ignore TS1343 in the CommonJS build, whose output of this module the package build replaces
const FOLDER: URL = new URL(".", import.meta.url);

/** The addresses books of the known deployments. */
export function knownBooks(): AddressesBook[] {
  return readdirSync(FOLDER)
    .filter((f) => /^\d+\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(new URL(f, FOLDER), "utf8")) as AddressesBook);
}
