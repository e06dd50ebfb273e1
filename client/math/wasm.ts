import { MaruError } from "../errors/base.js";
import { WASM_SOURCE, wasmBytes } from "./wasmBytes.js";

/** The exports of client/wasm/maru_math.ts (see the comments there for each). */
type MathExports = {
  memory: WebAssembly.Memory;
  OUT: WebAssembly.Global;
  R: WebAssembly.Global;
  KEY: WebAssembly.Global;
  ELEMENT: WebAssembly.Global;
  LTHASH: WebAssembly.Global;
  INPUT: WebAssembly.Global;
  keccak(len: number): void;
  shard(keyLen: number, n: number): number;
  shard32(n: number): number;
  elementHash(dataLen: number, timeHi: number, timeLo: number): void;
  ltHashAddElement(mult: number): void;
  ltHashDigest(): void;
};

function load(): MathExports {
  let bytes: Uint8Array;
  try {
    bytes = wasmBytes();
  } catch (cause) {
    throw new MaruError("The protocol math core (WebAssembly) is not built.", {
      details: [`expected at ${WASM_SOURCE}`],
      fix: "run `npm run build:wasm` (npm test and the benchmarks run it for you).",
      cause,
    });
  }
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    env: {
      abort: () => {
        throw new MaruError("The protocol math core aborted (a bug: please report it).");
      },
    },
  });
  return instance.exports as unknown as MathExports;
}

/** The loaded core. Calls are synchronous; the module is single-threaded like JS itself. */
export const core = load();

/** Fixed memory offsets of the core's scratch regions. */
export const OFFSETS = {
  OUT: core.OUT.value as number,
  R: core.R.value as number,
  KEY: core.KEY.value as number,
  ELEMENT: core.ELEMENT.value as number,
  LTHASH: core.LTHASH.value as number,
  INPUT: core.INPUT.value as number,
} as const;

let bytesView = new Uint8Array(core.memory.buffer);

/** A byte view of the core's memory, re-made after the memory grows. */
export function mem(): Uint8Array {
  if (bytesView.buffer !== core.memory.buffer) bytesView = new Uint8Array(core.memory.buffer);
  return bytesView;
}

/** Grows the core's memory so that INPUT has room for `len` bytes (plus padding). */
export function reserveInput(len: number): void {
  const needed = OFFSETS.INPUT + len + 256;
  const have = core.memory.buffer.byteLength;
  if (needed > have) core.memory.grow(Math.ceil((needed - have) / 65536));
}

/**
 * keccak256 of `data`, as 32 bytes (the wasm core: several times faster than ethers' for small inputs).
 * @example
 * ```ts
 * const h = keccakBytes(new Uint8Array([1, 2, 3])); // Uint8Array(32), equal to getBytes(keccak256("0x010203"))
 * ```
 */
export function keccakBytes(data: Uint8Array): Uint8Array {
  reserveInput(data.length);
  const m = mem();
  m.set(data, OFFSETS.INPUT);
  core.keccak(data.length);
  return m.slice(OFFSETS.OUT, OFFSETS.OUT + 32);
}
