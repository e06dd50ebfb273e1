// A misbehaving operator for the host's tests: loops forever on input "loop", grows memory without
// bound on "grow", traps on "trap"; echoes anything else.
import { emit, inputBytes, resetOutput } from "./abi";
export { input, output, outputLen } from "./abi";

const hoard = new Array<ArrayBuffer>();

export function process(len: i32, diff: i64): i32 {
  resetOutput();
  const b = inputBytes(len);
  const s = String.UTF8.decode(b.buffer);
  if (s == "loop") {
    let x: i64 = 0;
    while (x >= 0) x = (x + 1) & 0xffff;
    return 0;
  }
  if (s == "grow") {
    for (;;) hoard.push(new ArrayBuffer(1 << 20));
  }
  if (s == "trap") unreachable();
  emit(b, diff);
  return 1;
}
