// A join of three keyed streams (the operator ABI's processFrom): input 0 carries balance changes
// (key = account, diff = amount), input 1 transfers sent (key = account, diff = count), input 2
// approvals given (key = account, diff = count; from another source, the token's Approval logs).
// For every account with a non-zero balance, sends or approvals it keeps the three running sums
// and emits, on each change, the retraction of the old record and the new one. Output data:
// account ‖ balance ‖ sent ‖ approvals, each i64 big-endian. The inputs must be keyed alike (the
// worker checks their partitions).
import { emit, inputBytes, resetOutput } from "./abi";
import { hex, putI64 } from "./lib/keyed";
export { input, output, outputLen } from "./abi";

/** Running sums by account (hex), one map per input. */
const sums: Array<Map<string, i64>> = [new Map<string, i64>(), new Map<string, i64>(), new Map<string, i64>()];


function record(key: Uint8Array, v: StaticArray<i64>): Uint8Array {
  const out = new Uint8Array(key.length + 24);
  out.set(key, 0);
  for (let i = 0; i < 3; ++i) putI64(out, key.length + 8 * i, v[i]);
  return out;
}

function any(v: StaticArray<i64>): bool {
  return v[0] != 0 || v[1] != 0 || v[2] != 0;
}

/** A delta of input `from` (0: balance changes, 1: sends, 2: approvals); returns how many records it emitted, -1 if malformed. */
export function processFrom(from: i32, len: i32, diff: i64): i32 {
  resetOutput();
  if (from < 0 || from > 2) return -1;
  const key = inputBytes(len);
  const k = hex(key);
  const was = new StaticArray<i64>(3);
  for (let i = 0; i < 3; ++i) was[i] = sums[i].has(k) ? sums[i].get(k) : 0;
  const now = new StaticArray<i64>(3);
  for (let i = 0; i < 3; ++i) now[i] = was[i];
  now[from] = was[from] + diff;
  // A sum past 64 bits would wrap: refused as malformed (the output then says it is incomplete).
  if ((diff > 0 && now[from] < was[from]) || (diff < 0 && now[from] > was[from])) return -1;
  let n = 0;
  if (any(was)) {
    emit(record(key, was), -1);
    ++n;
  }
  if (any(now)) {
    emit(record(key, now), 1);
    ++n;
  }
  if (now[from] != 0) sums[from].set(k, now[from]);
  else if (sums[from].has(k)) sums[from].delete(k);
  return n;
}

/** The single-input entry point: input 0. */
export function process(len: i32, diff: i64): i32 {
  return processFrom(0, len, diff);
}
