// Emits the unrolled body of one Keccak-f[1600] round for client/wasm/keccak.ts.
// Kept in the repo so the generated code can be re-derived and reviewed:
// lane (x, y) is a{x+5y}; rho offsets and the pi step follow FIPS 202 §3.2.
const R = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
];
const out = [];
for (let x = 0; x < 5; x++) out.push(`c${x} = a${x} ^ a${x + 5} ^ a${x + 10} ^ a${x + 15} ^ a${x + 20};`);
for (let x = 0; x < 5; x++)
  out.push(
    `d = c${(x + 4) % 5} ^ rotl<u64>(c${(x + 1) % 5}, 1);` +
      [0, 1, 2, 3, 4].map((y) => ` a${x + 5 * y} ^= d;`).join(""),
  );
// rho + pi: B[y, 2x+3y] = rotl(A[x, y], R[x][y])
for (let x = 0; x < 5; x++)
  for (let y = 0; y < 5; y++) {
    const bx = y,
      by = (2 * x + 3 * y) % 5;
    const r = R[x][y];
    out.push(`b${bx + 5 * by} = ${r === 0 ? `a${x + 5 * y}` : `rotl<u64>(a${x + 5 * y}, ${r})`};`);
  }
// chi
for (let y = 0; y < 5; y++)
  for (let x = 0; x < 5; x++)
    out.push(`a${x + 5 * y} = b${x + 5 * y} ^ (~b${((x + 1) % 5) + 5 * y} & b${((x + 2) % 5) + 5 * y});`);
out.push("a0 ^= load<u64>(RC + (round << 3));");
console.log(out.map((l) => "    " + l).join("\n"));
