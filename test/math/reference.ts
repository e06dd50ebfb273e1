// A deliberately naive reference model of the protocol math: ethers' JavaScript keccak256 and
// BigInt, written straight from docs/protocol.md, sharing no code with client/math (which runs on the
// wasm core). The TypeScript tests check the client against it; the Solidity tests check the
// contracts against the shared vectors.
import { AbiCoder, concat, getBytes, keccak256, toBeHex, zeroPadValue } from "ethers";

const coder = AbiCoder.defaultAbiCoder();

export function refShard(key: string, r: string, n: number): number {
  return Number(BigInt(keccak256(concat([key, r]))) % BigInt(n));
}

function beU64(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

export function refShuffledIndex(index: number, n: number, r: string, rounds: number, inverse = false): number {
  let idx = BigInt(index);
  const N = BigInt(n);
  for (let s = 0; s < rounds; s++) {
    const round = inverse ? rounds - 1 - s : s;
    const roundByte = toBeHex(round, 1);
    const pivot = beU64(getBytes(keccak256(concat([r, roundByte])))) % N;
    const flip = (pivot + N - idx) % N;
    const position = idx > flip ? idx : flip;
    const chunk = Number(position / 256n);
    const source = getBytes(keccak256(concat([r, roundByte, toBeHex(chunk, 4)])));
    const bit = (source[Number((position % 256n) / 8n)] >> Number(position % 8n)) & 1;
    if (bit) idx = flip;
  }
  return Number(idx);
}

export type RefDelta = { data: string; time: bigint; diff: bigint };

export function refElement(data: string, time: bigint): string {
  return keccak256(coder.encode(["bytes", "uint64"], [data, time]));
}

export function refLanes(e: string): number[] {
  const lanes: number[] = [];
  for (let i = 0; i < 64; i++) {
    const w = getBytes(keccak256(concat([e, toBeHex(i, 1)])));
    for (let t = 0; t < 16; t++) lanes.push((w[2 * t] << 8) | w[2 * t + 1]);
  }
  return lanes;
}

export function refLtHash(deltas: RefDelta[], start?: number[]): number[] {
  const state = start ? [...start] : new Array<number>(1024).fill(0);
  for (const d of deltas) {
    const m = Number(((d.diff % 65536n) + 65536n) % 65536n);
    const lanes = refLanes(refElement(d.data, d.time));
    for (let i = 0; i < 1024; i++) state[i] = (state[i] + m * lanes[i]) % 65536;
  }
  return state;
}

export function refEncode(state: number[]): string {
  return concat(state.map((x) => zeroPadValue(toBeHex(x), 2)));
}

export function refLeaf(d: RefDelta): string {
  return keccak256(keccak256(coder.encode(["bytes", "uint64", "int64"], [d.data, d.time, d.diff])));
}

function hashPair(a: string, b: string): string {
  return BigInt(a) <= BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

export function refRoot(deltas: RefDelta[]): string {
  if (deltas.length === 0) return "0x" + "00".repeat(32);
  let level = deltas.map(refLeaf);
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashPair(level[i], level[i + 1]));
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}
