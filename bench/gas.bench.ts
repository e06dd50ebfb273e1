/**
 * Gas figures: `npm run bench:gas` (runs `hardhat run bench/gas.bench.ts` on the simulated
 * network). Writes bench/results/gas.json, a flat object of named gas figures:
 * - `math.*`: execution gas of one library call, measured with gasleft() around the call in
 *   MathHarness (no calldata, no call overhead);
 * - later issues add whole transactions (receipt gasUsed) under their own prefixes.
 * Gas is deterministic, so CI runs this too and fails when a goal is missed.
 */
import { network } from "hardhat";
import { keccak256, toBeHex } from "ethers";
import { deltaProof, deltasRoot, type Delta } from "../client/index.js";
import { writeResults } from "./report.js";
import { measureEpochGas } from "./epochs.gas.js";
import { measureRegistryGas } from "./registry.gas.js";
import { measureFraudGas } from "./fraud.gas.js";
import { measureInboxGas } from "./inbox.gas.js";
import { measureDisputeGas } from "./disputes.gas.js";

const { ethers, networkHelpers } = await network.create();
const harness = await ethers.deployContract("MathHarness");

const r = keccak256("0x72");
const data32 = keccak256("0x01");
const figures: Record<string, number> = {};

figures["math.ltHashAdd"] = Number((await harness.gasLtHashAdd(data32, 7n, 1n))[0]);
figures["math.ltHashAdd.diffMinus1"] = Number((await harness.gasLtHashAdd(data32, 7n, -1n))[0]);
figures["math.shard32"] = Number((await harness.gasShard32(data32, r, 10_000))[0]);

// holds() with 90 rounds at n = 10,000: worst over a few (worker, shard) pairs.
let holds = 0;
for (const [w, j] of [
  [0, 0],
  [9_999, 17],
  [4_242, 9_000],
  [123, 5_000],
]) {
  holds = Math.max(holds, Number((await harness.gasHolds(w, j, 10_000, 3, r, 90))[0]));
}
figures["math.holds90"] = holds;

// A depth-16 proof (a batch of 2^16 leaves would be too slow to build here; depth is what costs):
// 40,000 deltas give a depth-16 tree.
const deltas: Delta[] = Array.from({ length: 40_000 }, (_, i) => ({ data: toBeHex(i, 32), time: 1n, diff: 1n }));
const proof = deltaProof(deltas, 12_345);
figures["math.deltaVerify.depth16"] = Number(
  (await harness.gasDeltaVerify(proof, deltasRoot(deltas), deltas.length, deltas[12_345]))[0],
);

Object.assign(figures, await measureEpochGas(ethers, networkHelpers));
Object.assign(figures, await measureRegistryGas(ethers, networkHelpers));
Object.assign(figures, await measureFraudGas(ethers, networkHelpers));
Object.assign(figures, await measureInboxGas(ethers));
Object.assign(figures, await measureDisputeGas(ethers, networkHelpers));

const missed = writeResults("gas.json", figures, {
  "staking.stake": { max: 80_000 },
  "epochs.commit.n1": { max: 60_000 },
  "epochs.commit.n10000": { max: 60_000 },
  "epochs.freeze.n10000": { max: 200_000 },
  "registry.registerOperator": { max: 200_000 },
  "fraud.misroutedDelta.n4": { max: 120_000 },
  "fraud.misroutedDelta.n10000": { max: 120_000 },
  "fraud.equivocation": { max: 90_000 },
  // A small batch given as its deltas. With full states (fraud.brokenChain.fullStates, any batch
  // size) the proof sits on the EIP-7623 calldata floor, above this budget: docs/PERFORMANCE.md.
  "fraud.brokenChain": { max: 200_000 },
  "fraud.batchMismatch.64": { max: 1_500_000 },
  "fraud.accumulatedProof": { max: 110_000 },
  // The commitment that binds a false-block-hash reward to its reporter (§13), a block before.
  "fraud.commitReport": { max: 50_000 },
  // Per delta, excluding 21,000 and calldata; the 64-word state is loaded and stored once per
  // append, so the figure falls with the batch: the budget holds from 128 deltas per append.
  "inbox.append.perDelta.128": { max: 20_000 },
  "inbox.append.perDelta.256": { max: 20_000 },
  // Execution disputes (issue 14): whole transactions. Settlement pays jurors by their own claims.
  "disputes.open": { max: 130_000 },
  "disputes.commit.first": { max: 60_000 },
  "disputes.commit.second": { max: 60_000 },
  "disputes.reveal.first": { max: 60_000 },
  "disputes.reveal.second": { max: 60_000 },
  "disputes.settle.oneSlash": { max: 150_000 },
  "disputes.claimJuror": { max: 25_000 + 21_000 },
  "math.ltHashAdd": { max: 15_000 },
  "math.shard32": { max: 500 },
  "math.holds90": { max: 30_000 },
});
// The 1st and the 10,000th commit must cost the same within 1%: no cost grows with n.
const c1 = figures["epochs.commit.n1"];
const c10k = figures["epochs.commit.n10000"];
if (Math.abs(c10k - c1) > c1 * 0.01) missed.push(`epochs.commit n1 (${c1}) vs n10000 (${c10k}) differ by more than 1%`);
if (missed.length) {
  console.error(`gas goals missed: ${missed.join(", ")}`);
  process.exitCode = 1;
}
