/**
 * Where the gas of each fraud proof goes: `npm run bench:trace` (hardhat run on the simulated
 * network). Replays the transactions of bench/fraud.gas.ts and breaks each receipt's gasUsed into
 * intrinsic gas (21,000 + calldata) and execution gas by kind of opcode, from
 * `debug_traceTransaction`. Prints a table; the figures go into docs/PERFORMANCE.md by hand.
 */
import { network } from "hardhat";
import { getBytes } from "ethers";
import { measureFraudGas } from "./fraud.gas.js";

type StructLog = { op: string; gas: number; gasCost: number; depth: number };

const { ethers, networkHelpers, provider } = await network.create();

/** Opcode → the bucket it is reported in. */
function bucket(op: string): string {
  if (op === "SSTORE") return "SSTORE";
  if (op === "SLOAD") return "SLOAD";
  if (op === "KECCAK256") return "keccak";
  if (op.startsWith("LOG")) return "events";
  if (op === "STATICCALL" || op === "CALL" || op === "DELEGATECALL") return "calls (incl. ecrecover)";
  if (op.startsWith("CALLDATA")) return "calldata copy";
  return "other";
}

const rows: Record<string, Record<string, number>> = {};
await measureFraudGas(ethers, networkHelpers, async (name, hash) => {
  const tx = await ethers.provider.getTransaction(hash);
  const receipt = await ethers.provider.getTransactionReceipt(hash);
  const data = getBytes(tx!.data);
  const zeros = data.filter((b) => b === 0).length;
  const calldata = zeros * 4 + (data.length - zeros) * 16;
  const trace = (await provider.request({
    method: "debug_traceTransaction",
    params: [hash, { disableStorage: true, disableMemory: true, disableStack: true }],
  })) as { structLogs: StructLog[] };
  // EIP-7623 (Prague): a transaction pays at least 21,000 + 10 per calldata token (zero byte 1,
  // other byte 4); calldata-heavy proofs sit on that floor whatever their execution costs.
  const floor = 21_000 + 10 * (zeros + 4 * (data.length - zeros));
  const row: Record<string, number> = {
    total: Number(receipt!.gasUsed),
    "7623 floor": floor,
    "21k + calldata": 21_000 + calldata,
  };
  const logs = trace.structLogs;
  for (let i = 0; i < logs.length; ++i) {
    const b = bucket(logs[i].op);
    row[b] = (row[b] ?? 0) + ownCost(logs, i);
  }
  rows[name] = row;
});

/**
 * The gas step `i` costs itself. For a call, `gasCost` includes the gas passed on; its own cost is
 * what the caller lost across the call minus what the callee's steps used (a precompile such as
 * ecrecover has no steps, so its whole cost stays with the call).
 */
function ownCost(logs: StructLog[], i: number): number {
  const l = logs[i];
  if (!["CALL", "STATICCALL", "DELEGATECALL"].includes(l.op)) return l.gasCost;
  let j = i + 1;
  while (j < logs.length && logs[j].depth > l.depth) ++j;
  if (j >= logs.length) return l.gasCost;
  const lost = l.gas - logs[j].gas;
  if (j === i + 1) return lost; // precompile or empty account
  const last = logs[j - 1];
  const inner = logs[i + 1].gas - (last.gas - last.gasCost);
  return lost - inner;
}

console.table(rows);
