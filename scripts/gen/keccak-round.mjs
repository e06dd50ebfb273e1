// Emits the unrolled body of one Keccak-f[1600] round for client/wasm/maru_math.ts (permute; with
// --simd, permutePair).
// Kept in the repo so the generated code can be re-derived and reviewed:
// lane (x, y) is a{x+5y}; rho offsets and the pi step follow FIPS 202 §3.2.
const R = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
];
// `--simd`: the same round on v128 values, two permutations at once (one per 64-bit half), for
// permutePair in client/wasm/maru_math.ts; rot(x, n) is the i64x2 rotation defined there.
const simd = process.argv.includes("--simd");
const xor = (...v) => (simd ? v.reduce((a, b) => `v128.xor(${a}, ${b})`) : v.join(" ^ "));
const rotl = (v, n) => (simd ? `rot(${v}, ${n})` : `rotl<u64>(${v}, ${n})`);
const out = [];
for (let x = 0; x < 5; x++) out.push(`c${x} = ${xor(`a${x}`, `a${x + 5}`, `a${x + 10}`, `a${x + 15}`, `a${x + 20}`)};`);
for (let x = 0; x < 5; x++) {
  const d = `d = ${xor(`c${(x + 4) % 5}`, rotl(`c${(x + 1) % 5}`, 1))};`;
  if (simd) {
    out.push(d);
    for (let y = 0; y < 5; y++) out.push(`a${x + 5 * y} = v128.xor(a${x + 5 * y}, d);`);
  } else out.push(d + [0, 1, 2, 3, 4].map((y) => ` a${x + 5 * y} ^= d;`).join(""));
}
// rho + pi: B[y, 2x+3y] = rotl(A[x, y], R[x][y])
for (let x = 0; x < 5; x++)
  for (let y = 0; y < 5; y++) {
    const bx = y,
      by = (2 * x + 3 * y) % 5;
    const r = R[x][y];
    out.push(`b${bx + 5 * by} = ${r === 0 ? `a${x + 5 * y}` : rotl(`a${x + 5 * y}`, r)};`);
  }
// chi: a = b ^ (~b1 & b2); v128.andnot(p, q) is p & ~q
for (let y = 0; y < 5; y++)
  for (let x = 0; x < 5; x++) {
    const [b, b1, b2] = [x, (x + 1) % 5, (x + 2) % 5].map((i) => `b${i + 5 * y}`);
    out.push(`a${x + 5 * y} = ${simd ? `v128.xor(${b}, v128.andnot(${b2}, ${b1}))` : `${b} ^ (~${b1} & ${b2})`};`);
  }
out.push(
  simd ? "a0 = v128.xor(a0, i64x2.splat(load<u64>(RC + (round << 3))));" : "a0 ^= load<u64>(RC + (round << 3));",
);
console.log(out.map((l) => "    " + l).join("\n"));
