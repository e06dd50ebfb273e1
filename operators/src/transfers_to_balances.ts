// Map: a transfer (from 20 bytes ‖ to 20 bytes ‖ amount u64 big-endian) becomes two balance
// changes keyed by account: (from, -amount·diff) and (to, +amount·diff).
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len != 48) return -1; // not a transfer: the host reports a malformed delta
  const t = inputBytes(len);
  let amount: u64 = 0;
  for (let i = 40; i < 48; ++i) amount = (amount << 8) | (t[i] as u64);
  if (amount > (i64.MAX_VALUE as u64)) return -1;
  const from = t.subarray(0, 20);
  const to = t.subarray(20, 40);
  emit(from, -(amount as i64) * diff);
  emit(to, (amount as i64) * diff);
  return 2;
}
