// Keyed reduce: keeps a running sum of diffs per key (the data) and, for each input, emits the
// change of that key's sum as a retraction of the old (key ‖ sum) and an insertion of the new one.
// Output data: key ‖ sum as i64 big-endian. A delta that would take a sum past 64 bits is
// malformed (-1): nothing changes, and the worker says its output is incomplete.
import { inputBytes, resetOutput } from "./abi";
import { emitChange, hex, keyed, RunningSums } from "./lib/keyed";
export { input, output, outputLen } from "./abi";

const sums = new RunningSums();

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  const key = inputBytes(len);
  if (!sums.add(hex(key), diff)) return -1;
  return emitChange(sums.old != 0 ? keyed(key, sums.old) : null, sums.now != 0 ? keyed(key, sums.now) : null);
}
