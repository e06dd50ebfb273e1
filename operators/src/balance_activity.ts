// A join of two keyed streams (the operator ABI's processFrom): input 0 carries balance changes
// (key = account, diff = amount), input 1 transfers sent (key = account, diff = count). For every
// account with a non-zero balance or any sends it keeps both running sums and emits, on each
// change, the retraction of the old record and the new one. Output data: account ‖ balance ‖ sent,
// both i64 big-endian. Both inputs must be keyed alike (the worker checks their partitions).
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

const balance = new Map<string, i64>();
const sent = new Map<string, i64>();

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ++i) s += (b[i] as u32).toString(16).padStart(2, "0");
  return s;
}

function put(out: Uint8Array, at: i32, v: i64): void {
  for (let i = 0; i < 8; ++i) out[at + i] = ((v >> ((7 - i) * 8)) & 0xff) as u8;
}

function record(key: Uint8Array, b: i64, s: i64): Uint8Array {
  const out = new Uint8Array(key.length + 16);
  out.set(key, 0);
  put(out, key.length, b);
  put(out, key.length + 8, s);
  return out;
}

/** A delta of input `from` (0: balance changes, 1: sends); returns how many records it emitted, -1 if malformed. */
export function processFrom(from: i32, len: i32, diff: i64): i32 {
  resetOutput();
  if (from != 0 && from != 1) return -1;
  const key = inputBytes(len);
  const k = hex(key);
  const b: i64 = balance.has(k) ? balance.get(k) : 0;
  const s: i64 = sent.has(k) ? sent.get(k) : 0;
  const nb = from == 0 ? b + diff : b;
  const ns = from == 1 ? s + diff : s;
  // A sum past 64 bits would wrap: refused as malformed (the output then says it is incomplete).
  const was = from == 0 ? b : s;
  const now = from == 0 ? nb : ns;
  if ((diff > 0 && now < was) || (diff < 0 && now > was)) return -1;
  let n = 0;
  if (b != 0 || s != 0) {
    emit(record(key, b, s), -1);
    ++n;
  }
  if (nb != 0 || ns != 0) {
    emit(record(key, nb, ns), 1);
    ++n;
  }
  if (nb != 0) balance.set(k, nb);
  else if (balance.has(k)) balance.delete(k);
  if (ns != 0) sent.set(k, ns);
  else if (sent.has(k)) sent.delete(k);
  return n;
}

/** The single-input entry point: input 0. */
export function process(len: i32, diff: i64): i32 {
  return processFrom(0, len, diff);
}
