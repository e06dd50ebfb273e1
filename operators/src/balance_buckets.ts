// The first half of the sample's two-exchange dataflow: keeps every account's running balance (as
// sum_by_key does) and emits which size class it is in, bucket ‖ account, where the bucket is the
// bit length of the balance (1..64), negative for a negative balance, and a zero balance is in no
// bucket. A change that keeps the account in its bucket emits nothing; one that moves it retracts
// the old record and inserts the new one. Its output is partitioned by the bucket, so the second
// exchange brings every account of one bucket to one shard (count_by_bucket counts them). A change
// that would take a balance past 64 bits is malformed (-1): nothing changes.
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

const sums = new Map<string, i64>();

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ++i) s += (b[i] as u32).toString(16).padStart(2, "0");
  return s;
}

/** The bucket of a balance: its bit length, negative below zero (0: no bucket). */
function bucket(v: i64): i64 {
  if (v == 0) return 0;
  const m: u64 = v < 0 ? 0 - (v as u64) : (v as u64);
  const bits = (64 - clz<u64>(m)) as i64;
  return v < 0 ? -bits : bits;
}

function record(b: i64, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + key.length);
  for (let i = 0; i < 8; ++i) out[i] = ((b >> ((7 - i) * 8)) & 0xff) as u8;
  out.set(key, 8);
  return out;
}

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len != 20) return -1; // an account
  const key = inputBytes(len);
  const k = hex(key);
  const old: i64 = sums.has(k) ? sums.get(k) : 0;
  const now = old + diff;
  if ((diff > 0 && now < old) || (diff < 0 && now > old)) return -1;
  if (now != 0) sums.set(k, now);
  else sums.delete(k);
  const from = bucket(old);
  const to = bucket(now);
  if (from == to) return 0;
  let n = 0;
  if (from != 0) {
    emit(record(from, key), -1);
    ++n;
  }
  if (to != 0) {
    emit(record(to, key), 1);
    ++n;
  }
  return n;
}
