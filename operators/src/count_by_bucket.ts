// The second half of the sample's two-exchange dataflow: counts records by their first 8 bytes (a
// bucket of balance_buckets), keeping a running count per bucket, and for each input emits the
// change of that bucket's count as a retraction of the old (bucket ‖ count) and an insertion of
// the new one (sum_by_key over the first 8 bytes). Output data: bucket (8 bytes) ‖ count as i64
// big-endian. A count past 64 bits is malformed (-1).
import { inputBytes, resetOutput } from "./abi";
import { emitChange, hex, keyed, RunningSums } from "./lib/keyed";
export { input, output, outputLen } from "./abi";

const counts = new RunningSums();

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len < 8) return -1; // no bucket
  const bucket = inputBytes(len).subarray(0, 8);
  if (!counts.add(hex(bucket), diff)) return -1;
  const c = counts;
  return emitChange(c.old != 0 ? keyed(bucket, c.old) : null, c.now != 0 ? keyed(bucket, c.now) : null);
}
