// The first half of the sample's two-exchange dataflow: keeps every account's running balance (as
// sum_by_key does) and emits which size class it is in, bucket ‖ account, where the bucket is the
// bit length of the balance (1..64), negative for a negative balance, and a zero balance is in no
// bucket. A change that keeps the account in its bucket emits nothing; one that moves it retracts
// the old record and inserts the new one. Its output is partitioned by the bucket, so the second
// exchange brings every account of one bucket to one shard (count_by_bucket counts them). A change
// that would take a balance past 64 bits is malformed (-1): nothing changes.
import { inputBytes, resetOutput } from "./abi";
import { emitChange, hex, putI64, RunningSums } from "./lib/keyed";
export { input, output, outputLen } from "./abi";

const balances = new RunningSums();

/** The bucket of a balance: its bit length, negative below zero (0: no bucket). */
function bucket(v: i64): i64 {
  if (v == 0) return 0;
  const m: u64 = v < 0 ? 0 - (v as u64) : (v as u64);
  const bits = (64 - clz<u64>(m)) as i64;
  return v < 0 ? -bits : bits;
}

/** bucket ‖ account. */
function record(b: i64, account: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + account.length);
  putI64(out, 0, b);
  out.set(account, 8);
  return out;
}

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  if (len != 20) return -1; // an account
  const account = inputBytes(len);
  if (!balances.add(hex(account), diff)) return -1;
  const from = bucket(balances.old);
  const to = bucket(balances.now);
  if (from == to) return 0;
  return emitChange(from != 0 ? record(from, account) : null, to != 0 ? record(to, account) : null);
}
