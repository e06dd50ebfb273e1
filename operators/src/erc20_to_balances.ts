// Map over a CHAIN source: an ERC-20 Transfer log (its words: from ‖ to ‖ value, 32 bytes each, as
// the worker reads a log's topics after the first and then its data) becomes two balance changes
// keyed by account: (from, -value·diff) and (to, +value·diff). A value of 2^63 or more does not fit
// the sample's 64-bit sums: malformed, skipped the same way by every holder.
import { inputBytes, resetOutput } from "./abi";
import { balanceChanges, readU64 } from "./lib/transfers";
export { input, output, outputLen } from "./abi";

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len != 96) return -1; // not a Transfer(address,address,uint256) log
  const t = inputBytes(len);
  for (let i = 64; i < 88; ++i) if (t[i] != 0) return -1; // value ≥ 2^64
  return balanceChanges(t.subarray(12, 32), t.subarray(44, 64), readU64(t, 88, 96), diff);
}
