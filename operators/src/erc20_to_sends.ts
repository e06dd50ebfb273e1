// Map over a CHAIN source: an ERC-20 Transfer log (from ‖ to ‖ value, 32-byte words) becomes one
// record keyed by its sender, (from, +diff): one more transfer sent by that account. Anything that
// is not a three-word log is malformed, skipped the same way by every holder. The sample registers
// it a second time as erc20_to_approvals: an Approval log (owner ‖ spender ‖ value) becomes (owner,
// +diff), one more approval given.
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len != 96) return -1; // not a Transfer(address,address,uint256) log
  const t = inputBytes(len);
  emit(t.subarray(12, 32), diff);
  return 1;
}
