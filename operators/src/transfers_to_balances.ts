// Map: a transfer (from 20 bytes ‖ to 20 bytes ‖ amount u64 big-endian) becomes two balance
// changes keyed by account: (from, -amount·diff) and (to, +amount·diff).
import { inputBytes, resetOutput } from "./abi";
import { balanceChanges, readU64 } from "./lib/transfers";
export { input, output, outputLen } from "./abi";

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len != 48) return -1; // not a transfer: the host reports a malformed delta
  const t = inputBytes(len);
  return balanceChanges(t.subarray(0, 20), t.subarray(20, 40), readU64(t, 40, 48), diff);
}
