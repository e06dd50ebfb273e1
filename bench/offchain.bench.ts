/**
 * Off-chain throughput of the protocol math on one core: `npm run bench:offchain`.
 * Writes bench/results/offchain.json. Each figure is the median of RUNS timed runs after a
 * warm-up. The hash-wasm and ethers figures are the alternatives measured in the same run.
 */
import os from "node:os";
import { createKeccak } from "hash-wasm";
import { getBytes, keccak256 } from "ethers";
import { Wallet } from "ethers";
import {
  EpochMath,
  LtHash16,
  Permutation,
  Sharder,
  buildBatch,
  openChannel,
  openReceiverChannel,
  protocolDomain,
  signBatch,
  verifyBatch,
  type Delta,
  type EpochView,
} from "../client/index.js";
import { writeResults } from "./report.js";

const RUNS = 7;
const r = keccak256("0x72");
const n = 10_000;
const keys = Array.from({ length: 4096 }, (_, i) => getBytes(keccak256("0x" + i.toString(16).padStart(8, "0"))));

/** Operations per second of `op`, called `count` times: median of RUNS runs after one warm-up. */
function measure(count: number, op: (i: number) => void): number {
  const once = () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) op(i);
    return count / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  once();
  const rates = Array.from({ length: RUNS }, once).sort((a, b) => a - b);
  return Math.round(rates[RUNS >> 1]);
}

const sharder = new Sharder(r, n);
const shard32PerSec = measure(1_000_000, (i) => sharder.shard32(keys[i & 4095]));

const h = new LtHash16();
const data32 = keys.map((k) => ({ data: k, time: 7n, diff: 1n }));
const ltHashAddPerSec = measure(20_000, (i) => h.add(data32[i & 4095].data, 7n, 1n));
const batch = data32.slice(0, 256);
const ltHashAddAllPerSec = measure(80, () => h.addAll(batch)) * batch.length;

// ---- the alternatives, same inputs ----
const hw = await createKeccak(256);
const rBytes = getBytes(r);
const buf64 = new Uint8Array(64);
buf64.set(rBytes, 32);
const hashWasmShard32PerSec = measure(300_000, (i) => {
  buf64.set(keys[i & 4095], 0);
  hw.init();
  hw.update(buf64);
  const d = hw.digest("binary");
  let acc = 0;
  for (let b = 0; b < 32; b += 4)
    acc = ((acc * 4294967296 + ((d[b] << 24) | (d[b + 1] << 16) | (d[b + 2] << 8) | d[b + 3])) >>> 0) % n;
  return acc;
});
const ethersShard32PerSec = measure(50_000, (i) =>
  Number(BigInt(keccak256(Buffer.concat([keys[i & 4095], rBytes]))) % BigInt(n)),
);

// LtHash with a per-hash wasm library: element hash + 64 lane hashes, lanes added in JS.
const lanes = new Uint16Array(1024);
const lanebuf = new Uint8Array(33);
const hashWasmLtHashAddPerSec = measure(3_000, (i) => {
  hw.init();
  hw.update(keys[i & 4095]);
  lanebuf.set(hw.digest("binary"), 0);
  for (let w = 0; w < 64; w++) {
    lanebuf[32] = w;
    hw.init();
    hw.update(lanebuf);
    const d = hw.digest("binary");
    for (let t = 0; t < 16; t++) lanes[16 * w + t] += (d[2 * t] << 8) | d[2 * t + 1];
  }
});

// verifyBatch on 256-delta batches (signature, root, shards, holder, batchMsh, chain): deltas/s.
const verifyBatchDeltasPerSec = await (async () => {
  const vn = 64;
  const key = new Wallet(keccak256("0x5151"));
  const view: EpochView = { epoch: 1n, n: vn, k: 3, r, indexOf: new Map(), signingKeyOf: new Map() };
  for (let i = 0; i < vn; ++i) view.indexOf.set(`0x${(i + 1).toString(16).padStart(40, "0")}`, i);
  const sender = `0x${(1).toString(16).padStart(40, "0")}`;
  view.signingKeyOf.set(sender, key.address.toLowerCase());
  const math = new EpochMath(view);
  const shard = 5;
  const me = [...view.indexOf.entries()].find(([, i]) => new Permutation(r, vn).holds(i, shard, 3))![0];
  const sh = new Sharder(r, vn);
  const pool: Delta[] = [];
  for (let i = 0; pool.length < 256 * 8; ++i) {
    const d = getBytes(keccak256("0x" + i.toString(16).padStart(8, "0")));
    if (sh.shard(d) === shard) pool.push({ data: d, time: BigInt(i), diff: 1n });
  }
  const domain = protocolDomain(31337, "0x" + "11".repeat(20));
  const ch = openChannel(1n, keccak256("0x01"), shard, new Permutation(r, vn).shardsOf(0, 3)[0], sender);
  const batches = [];
  for (let b = 0; b < 8; ++b) {
    const deltas = pool.slice(256 * b, 256 * (b + 1));
    const [h] = buildBatch(ch, deltas, [me]);
    batches.push({ header: h, signature: await signBatch(key, domain, h), deltas });
  }
  const rates: number[] = [];
  for (let run = 0; run < RUNS + 1; ++run) {
    const rch = openReceiverChannel();
    const t0 = process.hrtime.bigint();
    for (const b of batches) {
      const v = verifyBatch(b, { math, me, domain, channel: rch });
      if (!v.ok) throw new Error(`benchmark batch refused: ${v.violations.map((x) => x.message).join("; ")}`);
    }
    rates.push((8 * 256) / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  rates.shift(); // warm-up
  rates.sort((a, b) => a - b);
  return Math.round(rates[rates.length >> 1]);
})();

const figures = {
  shard32PerSec,
  verifyBatchDeltasPerSec,
  ltHashAddPerSec,
  ltHashAddAllPerSec,
  "baseline.hashWasmShard32PerSec": hashWasmShard32PerSec,
  "baseline.ethersShard32PerSec": ethersShard32PerSec,
  "baseline.hashWasmLtHashAddPerSec": hashWasmLtHashAddPerSec,
};
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? "unknown cpu"}, one core, median of ${RUNS} runs`);
const missed = writeResults("offchain.json", figures, {
  shard32PerSec: { min: 1_000_000 },
  ltHashAddPerSec: { min: 25_000 },
  verifyBatchDeltasPerSec: { min: 20_000 },
});
if (missed.length) {
  console.error(`goals missed: ${missed.join(", ")}`);
  process.exitCode = 1;
}
