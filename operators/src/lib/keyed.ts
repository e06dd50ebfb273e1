// What the sample's keyed operators share: keys as hex strings, i64 big-endian fields, a running sum
// per key that refuses to wrap past 64 bits, and emitting a record's change as the retraction of
// the old one and the insertion of the new one.
import { emit } from "../abi";

/** Lower-case hex of `b` (a map key). */
export function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ++i) s += (b[i] as u32).toString(16).padStart(2, "0");
  return s;
}

/** Writes `v` as an i64, big-endian, at `out[at..at + 8]`. */
export function putI64(out: Uint8Array, at: i32, v: i64): void {
  for (let i = 0; i < 8; ++i) out[at + i] = ((v >> ((7 - i) * 8)) & 0xff) as u8;
}

/** `key` followed by `v` as an i64, big-endian. */
export function keyed(key: Uint8Array, v: i64): Uint8Array {
  const out = new Uint8Array(key.length + 8);
  out.set(key, 0);
  putI64(out, key.length, v);
  return out;
}

/** A running sum per key; a zero sum is forgotten. */
export class RunningSums {
  private readonly sums: Map<string, i64> = new Map<string, i64>();
  /** The key's sum before the last successful `add`, and after it. */
  old: i64 = 0;
  now: i64 = 0;

  /** Adds `diff` to `key`'s sum; false, with nothing changed, when the sum would pass 64 bits. */
  add(key: string, diff: i64): bool {
    const old: i64 = this.sums.has(key) ? this.sums.get(key) : 0;
    const now = old + diff;
    if ((diff > 0 && now < old) || (diff < 0 && now > old)) return false;
    if (now != 0) this.sums.set(key, now);
    else if (this.sums.has(key)) this.sums.delete(key);
    this.old = old;
    this.now = now;
    return true;
  }
}

/** Emits the retraction of `old` and the insertion of `now` (either may be absent); returns how many records. */
export function emitChange(old: Uint8Array | null, now: Uint8Array | null): i32 {
  let n = 0;
  if (old !== null) {
    emit(old, -1);
    ++n;
  }
  if (now !== null) {
    emit(now, 1);
    ++n;
  }
  return n;
}
