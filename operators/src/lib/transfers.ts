// What the sample map operators share: a transfer of `amount` from one account to another becomes
// two balance changes keyed by account, (from, -amount·diff) and (to, +amount·diff). An amount of
// 2^63 or more does not fit the sample's 64-bit sums: malformed (-1), skipped alike by every holder.
import { emit } from "../abi";

/** The big-endian unsigned integer of bytes [from, to) of `b` (at most 8 bytes). */
export function readU64(b: Uint8Array, from: i32, to: i32): u64 {
  let v: u64 = 0;
  for (let i = from; i < to; ++i) v = (v << 8) | (b[i] as u64);
  return v;
}

/** Emits the two balance changes of a transfer and returns how many records it emitted (or -1). */
export function balanceChanges(from: Uint8Array, to: Uint8Array, amount: u64, diff: i64): i32 {
  if (amount > (i64.MAX_VALUE as u64)) return -1;
  emit(from, -(amount as i64) * diff);
  emit(to, (amount as i64) * diff);
  return 2;
}
