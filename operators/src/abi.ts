// The operator ABI (docs/operators.md), shared by the sample operators. The host writes one delta's
// data at `input(len)`, calls `process(len, diff)`, and reads the output records the operator
// appended with `emit`: [u32 length][data][i64 diff], little-endian, at `output()`/`outputLen()`.

let inBuf = new ArrayBuffer(256);
let outBuf = new ArrayBuffer(4096);
let outLen: i32 = 0;

/** Scratch room for the host to write `len` bytes of input into. */
export function input(len: i32): usize {
  if (inBuf.byteLength < len) inBuf = new ArrayBuffer(len);
  return changetype<usize>(inBuf);
}

/** Where the output records start, and their total length. */
export function output(): usize {
  return changetype<usize>(outBuf);
}

export function outputLen(): i32 {
  return outLen;
}

/** Clears the output (the host calls process, which calls this first). */
export function resetOutput(): void {
  outLen = 0;
}

/** Appends an output record. */
export function emit(data: Uint8Array, diff: i64): void {
  const need = outLen + 4 + data.length + 8;
  if (outBuf.byteLength < need) {
    const bigger = new ArrayBuffer(need * 2);
    memory.copy(changetype<usize>(bigger), changetype<usize>(outBuf), outLen);
    outBuf = bigger;
  }
  const base = changetype<usize>(outBuf) + outLen;
  store<u32>(base, data.length);
  memory.copy(base + 4, data.dataStart, data.length);
  store<i64>(base + 4 + data.length, diff);
  outLen = need;
}

/** The input as a Uint8Array (a copy). */
export function inputBytes(len: i32): Uint8Array {
  const out = new Uint8Array(len);
  memory.copy(out.dataStart, changetype<usize>(inBuf), len);
  return out;
}
