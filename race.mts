import { readFileSync } from "node:fs";
import { OperatorHost } from "/work/main/worker/operators/host.js";
const wasm = new Uint8Array(readFileSync("/work/main/operators/build/spin.wasm"));
const op = await OperatorHost.start(wasm, { perDeltaMs: 1 });
await new Promise<void>((r) => setTimeout(async () => {
  const answer = op.process([{ data: new TextEncoder().encode("echo"), time: 1n, diff: 1n }]);
  for (let i = 0; i < 20; i++) await null;
  const until = Date.now() + 2600; while (Date.now() < until);
  console.log(await answer.then(() => "answered", (e) => "timeout: " + e.message.split("\n")[0]));
  r();
}, 5));
await op.close();
