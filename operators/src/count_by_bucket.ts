// The second half of the sample's two-exchange dataflow: counts records by their first 8 bytes (a
// bucket of balance_buckets), keeping a running count per bucket, and for each input emits the
// change of that bucket's count as a retraction of the old (bucket ‖ count) and an insertion of
// the new one. Output data: bucket (8 bytes) ‖ count as i64 big-endian. A count past 64 bits is
// malformed (-1).
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

const counts = new Map<string, i64>();

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ++i) s += (b[i] as u32).toString(16).padStart(2, "0");
  return s;
}

function record(prefix: Uint8Array, count: i64): Uint8Array {
  const out = new Uint8Array(16);
  out.set(prefix, 0);
  for (let i = 0; i < 8; ++i) out[8 + i] = ((count >> ((7 - i) * 8)) & 0xff) as u8;
  return out;
}

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len < 8) return -1; // no bucket
  const prefix = inputBytes(len).subarray(0, 8);
  const k = hex(prefix);
  const old: i64 = counts.has(k) ? counts.get(k) : 0;
  const now = old + diff;
  if ((diff > 0 && now < old) || (diff < 0 && now > old)) return -1;
  let n = 0;
  if (old != 0) {
    emit(record(prefix, old), -1);
    ++n;
  }
  if (now != 0) {
    emit(record(prefix, now), 1);
    ++n;
    counts.set(k, now);
  } else {
    counts.delete(k);
  }
  return n;
}
