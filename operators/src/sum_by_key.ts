// Keyed reduce: keeps a running sum of diffs per key (the data) and, for each input, emits the
// change of that key's sum as a retraction of the old (key ‖ sum) and an insertion of the new one.
// Output data: key ‖ sum as i64 big-endian. A delta that would take a sum past 64 bits is
// malformed (-1): nothing changes, and the worker says its output is incomplete.
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

const sums = new Map<string, i64>();

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ++i) s += (b[i] as u32).toString(16).padStart(2, "0");
  return s;
}

function record(key: Uint8Array, sum: i64): Uint8Array {
  const out = new Uint8Array(key.length + 8);
  out.set(key, 0);
  for (let i = 0; i < 8; ++i) out[key.length + i] = ((sum >> ((7 - i) * 8)) & 0xff) as u8;
  return out;
}

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  const key = inputBytes(len);
  const k = hex(key);
  const old: i64 = sums.has(k) ? sums.get(k) : 0;
  const now = old + diff;
  // A sum past 64 bits would wrap: refused as malformed (the output then says it is incomplete).
  if ((diff > 0 && now < old) || (diff < 0 && now > old)) return -1;
  let n = 0;
  if (old != 0) {
    emit(record(key, old), -1);
    ++n;
  }
  if (now != 0) {
    emit(record(key, now), 1);
    ++n;
    sums.set(k, now);
  } else {
    sums.delete(k);
  }
  return n;
}
