// The operator host: the sample AssemblyScript operators (built by npm run build:operators) run
// sandboxed in their own thread; their outputs match a direct computation; a looping, memory-hungry
// or trapping operator is an OperatorError, never a hang or a crash; unbounded modules are refused.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { OperatorHost, OperatorError, memoryLimits } from "../../worker/operators/host.js";

const wasm = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../operators/build/${name}.wasm`, import.meta.url)));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const RUNS = Math.min(Number(process.env.FAST_CHECK_RUNS ?? 50), 100);

function transfer(from: number, to: number, amount: bigint): Uint8Array {
  const b = new Uint8Array(48);
  b[19] = from;
  b[39] = to;
  for (let i = 0; i < 8; ++i) b[40 + i] = Number((amount >> BigInt(8 * (7 - i))) & 0xffn);
  return b;
}

describe("operator host (WebAssembly operators in a thread, bounded)", function () {
  this.timeout(60_000);

  it("transfers → balances (map, then keyed reduce) equals a direct computation", async function () {
    const map = await OperatorHost.start(wasm("transfers_to_balances"));
    const reduce = await OperatorHost.start(wasm("sum_by_key"));
    // The reduce keeps state across runs: so do the expectations.
    const expected = new Map<string, bigint>();
    const live = new Map<string, bigint>();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.nat(5), fc.nat(5), fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.constantFrom(1n, -1n)), {
            minLength: 1,
            maxLength: 20,
          }),
          async (ts) => {
            const deltas = ts.map(([f, t, a, d], i) => {
              const key = (n: number) => hex(transfer(n, 0, 0n).slice(0, 20));
              expected.set(key(f), (expected.get(key(f)) ?? 0n) - a * d);
              expected.set(key(t), (expected.get(key(t)) ?? 0n) + a * d);
              return { data: transfer(f, t, a), time: BigInt(i), diff: d };
            });
            const changes = (await map.process(deltas)).flat();
            expect(changes).to.have.length(2 * ts.length);
            const outputs = (await reduce.process(changes)).flat();
            // The reduce's outputs fold to the current sums (as a multiset of key ‖ sum).
            for (const o of outputs) {
              const k = hex(o.data as Uint8Array);
              live.set(k, (live.get(k) ?? 0n) + BigInt(o.diff));
            }
            const balances = new Map<string, bigint>();
            for (const [k, m] of live)
              if (m !== 0n) balances.set(k.slice(0, 40), BigInt.asIntN(64, BigInt("0x" + k.slice(40))));
            const nonZero = new Map([...expected].filter(([, v]) => v !== 0n));
            expect(balances).to.deep.equal(nonZero);
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      await map.close();
      await reduce.close();
    }
  });

  it("skips a delta the operator calls malformed, counts it, and keeps running", async function () {
    const map = await OperatorHost.start(wasm("transfers_to_balances"));
    try {
      const transfer = new Uint8Array(48);
      transfer[47] = 5; // amount 5
      const out = await map.process([
        { data: new Uint8Array(10), time: 1n, diff: 1n },
        { data: transfer, time: 2n, diff: 1n },
      ]);
      expect(out[0]).to.deep.equal([]);
      expect(out[1].map((d) => d.diff)).to.deep.equal([-5n, 5n]);
      expect(map.malformed).to.equal(1);
    } finally {
      await map.close();
    }
  });

  it("balance_activity joins three inputs by key through processFrom; erc20_to_sends keys a transfer by its sender", async function () {
    const join = await OperatorHost.start(wasm("balance_activity"));
    const sends = await OperatorHost.start(wasm("erc20_to_sends"));
    try {
      const a = "aa".repeat(20);
      const i64 = (v: bigint) => BigInt.asUintN(64, v).toString(16).padStart(16, "0");
      const record = (b: bigint, s: bigint, p = 0n) => a + i64(b) + i64(s) + i64(p);
      const shown = (ds: Array<{ data: unknown; diff: bigint | number }>) =>
        ds.map((d) => [hex(d.data as Uint8Array), BigInt(d.diff)]);
      const [first] = await join.process([{ data: `0x${a}`, time: 1n, diff: 50n }], 0);
      expect(shown(first)).to.deep.equal([[record(50n, 0n), 1n]]);
      const [second] = await join.process([{ data: `0x${a}`, time: 2n, diff: 1n }], 1);
      expect(shown(second)).to.deep.equal([
        [record(50n, 0n), -1n],
        [record(50n, 1n), 1n],
      ]);
      // Input 2 (approvals, of another source) joins the same key.
      const [third] = await join.process([{ data: `0x${a}`, time: 3n, diff: 2n }], 2);
      expect(shown(third)).to.deep.equal([
        [record(50n, 1n), -1n],
        [record(50n, 1n, 2n), 1n],
      ]);
      // Back to nothing on every side: only the retraction.
      await join.process([{ data: `0x${a}`, time: 4n, diff: -50n }], 0);
      await join.process([{ data: `0x${a}`, time: 5n, diff: -2n }], 2);
      const [last] = await join.process([{ data: `0x${a}`, time: 6n, diff: -1n }], 1);
      expect(shown(last)).to.deep.equal([[record(0n, 1n), -1n]]);
      // An input number the operator does not have is malformed.
      expect(await join.process([{ data: `0x${a}`, time: 7n, diff: 1n }], 3)).to.deep.equal([[]]);
      expect(join.malformed).to.equal(1);
      // So is a sum past 64 bits.
      await join.process([{ data: `0x${a}`, time: 8n, diff: (1n << 63n) - 1n }], 1);
      expect(await join.process([{ data: `0x${a}`, time: 9n, diff: 1n }], 1)).to.deep.equal([[]]);
      expect(join.malformed).to.equal(2);

      const word = (h: string) => h.padStart(64, "0");
      const [out] = await sends.process([
        { data: `0x${word("11".repeat(20))}${word("22".repeat(20))}${word("05")}`, time: 1n, diff: 1n },
      ]);
      expect(shown(out)).to.deep.equal([["11".repeat(20), 1n]]);
    } finally {
      await join.close();
      await sends.close();
    }
  });

  it("refuses to give a delta an input number when the operator has no processFrom", async function () {
    const reduce = await OperatorHost.start(wasm("sum_by_key"));
    try {
      await reduce.process([{ data: "0x01", time: 1n, diff: 1n }], 1);
      expect.fail("accepted");
    } catch (e) {
      expect(e).to.be.instanceOf(OperatorError);
      expect((e as Error).message).to.match(/does not export processFrom/);
    }
  });

  it("erc20_to_balances: a Transfer log's words become the two balance changes; values past 2^63 are malformed", async function () {
    const map = await OperatorHost.start(wasm("erc20_to_balances"));
    try {
      const word = (hex: string) => hex.replace(/^0x/, "").padStart(64, "0");
      const from = "11".repeat(20);
      const to = "22".repeat(20);
      const log = (value: bigint) => `0x${word(from)}${word(to)}${word(value.toString(16))}`;
      const out = await map.process([
        { data: log(1234n), time: 1n, diff: 1n },
        { data: log(1n << 63n), time: 2n, diff: 1n }, // does not fit the 64-bit sums
        { data: log(1n << 200n), time: 3n, diff: 1n },
        { data: `0x${word(from)}${word(to)}`, time: 4n, diff: 1n }, // not a Transfer log
        { data: log(7n), time: 5n, diff: -2n },
      ]);
      const shown = (ds: (typeof out)[number]) =>
        ds.map((d) => [Buffer.from(d.data as Uint8Array).toString("hex"), d.diff]);
      expect(shown(out[0])).to.deep.equal([
        [from, -1234n],
        [to, 1234n],
      ]);
      expect([out[1], out[2], out[3]]).to.deep.equal([[], [], []]);
      expect(shown(out[4])).to.deep.equal([
        [from, 14n],
        [to, -14n],
      ]);
      expect(map.malformed).to.equal(3);
    } finally {
      await map.close();
    }
  });

  it("stops an operator that loops, grows without bound or traps, and refuses unbounded modules", async function () {
    for (const input of ["loop", "grow", "trap"]) {
      const op = await OperatorHost.start(wasm("spin"), { perDeltaMs: 20 });
      expect(await op.process([{ data: new TextEncoder().encode("echo"), time: 1n, diff: 1n }])).to.have.length(1);
      const started = Date.now();
      const err = await op
        .process([{ data: new TextEncoder().encode(input), time: 1n, diff: 1n }])
        .catch((e: unknown) => e);
      expect(err, input).to.be.instanceOf(OperatorError);
      expect(Date.now() - started, `${input} stopped quickly`).to.be.below(5_000);
      const after = await op.process([]).catch((e: unknown) => e);
      expect(after).to.be.instanceOf(OperatorError); // stopped until restarted
    }
    expect(memoryLimits(wasm("spin")).max).to.equal(256);
    await OperatorHost.start(wasm("spin"), { maxMemoryPages: 16 }).then(
      () => expect.fail("accepted"),
      (e: unknown) => expect((e as Error).message).to.match(/not bounded to 16 pages/),
    );
    await OperatorHost.start(new Uint8Array([1, 2, 3])).then(
      () => expect.fail("accepted"),
      (e: unknown) => expect(e).to.be.instanceOf(OperatorError),
    );
  });
});
