// Copies the built keccak core next to the compiled client (client/math/wasm.ts loads it relative
// to itself), for `npm run build:client`.
import { copyFileSync, mkdirSync } from "node:fs";

const to = new URL("../../client/dist/client/wasm/build/", import.meta.url);
mkdirSync(to, { recursive: true });
copyFileSync(new URL("../../client/wasm/build/maru_math.wasm", import.meta.url), new URL("maru_math.wasm", to));
