// The operator sandbox's checks: modules assembled here byte by byte, each with one thing the
// sandbox must refuse (a second or imported memory, no or too large a maximum, memory64, shared
// memory, unbounded or imported tables, truncation), and the run-time line of defence (a small JS
// heap for the thread, memories checked after every call, a start function that never returns).
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { hexlify } from "ethers";
import type { Delta } from "../../client/math/lthash.js";
import {
  OperatorHost,
  OperatorError,
  RUN_ALLOWANCE_MS,
  checkModule,
  type OperatorOutput,
  inspectModule,
  packInputs,
  unpackOutputs,
} from "../../worker/operators/host.js";
import { OperatorThread } from "../../worker/operators/pool.js";

const I32 = 0x7f;
const I64 = 0x7e;
const FUNCREF = 0x70;
const END = 0x0b;

/** Unsigned LEB128 (also the signed encoding of 0..63). */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const name = (s: string) => vec([...new TextEncoder().encode(s)].map((b) => [b]));
const section = (id: number, content: number[]) => [id, ...leb(content.length), ...content];
/** Limits: flag byte (bit 0: has a maximum), min, max. */
const limits = (min: number, max?: number, flags = 0) =>
  max === undefined ? [flags, ...leb(min)] : [flags | 0x01, ...leb(min), ...leb(max)];
const importEntry = (kind: number, desc: number[], field = "x") => [...name("env"), ...name(field), kind, ...desc];
/** The kind byte of an import entry: after its two names (each shorter than 128 bytes here). */
const importKind = (entry: number[]) => entry[1 + entry[0] + 1 + entry[1 + entry[0]]];

interface Parts {
  imports?: number[][];
  tables?: number[][];
  memories?: number[][];
  /** The body of process(len: i32, diff: i64) -> i32; returns 0 records by default. */
  process?: number[];
  /** Adds a start function that loops for ever. */
  loopingStart?: boolean;
}

/**
 * The header and sections of a module with the operator ABI's exports (memory 0, input, process,
 * output, outputLen), in the binary format's order: type, import, function, table, memory, export,
 * start, code. Imports must not be functions (they would shift the function indices).
 */
function sections(p: Parts): number[][] {
  const types = [
    [0x60, ...vec([[I32]]), ...vec([[I32]])], // input(len) -> ptr
    [0x60, ...vec([[I32], [I64]]), ...vec([[I32]])], // process(len, diff) -> count
    [0x60, ...vec([]), ...vec([[I32]])], // output(), outputLen()
    [0x60, ...vec([]), ...vec([])], // start
  ];
  const zero = [0x41, 0x00]; // i32.const 0
  const bodies = [zero, p.process ?? zero, zero, zero, ...(p.loopingStart ? [[0x03, 0x40, 0x0c, 0x00, END]] : [])];
  const code = bodies.map((instrs) => vec([0x00, ...instrs, END].map((b) => [b])));
  const hasMemory = (p.memories?.length ?? 0) > 0 || (p.imports ?? []).some((i) => importKind(i) === 0x02);
  const exports = [
    ...(hasMemory ? [[...name("memory"), 0x02, 0]] : []),
    ...["input", "process", "output", "outputLen"].map((n, i) => [...name(n), 0x00, i]),
  ];
  return [
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, vec(types)),
    ...(p.imports ? [section(2, vec(p.imports))] : []),
    section(3, vec(bodies.map((_, i) => [i < 4 ? [0, 1, 2, 2][i] : 3]))),
    ...(p.tables ? [section(4, vec(p.tables))] : []),
    ...(p.memories ? [section(5, vec(p.memories))] : []),
    section(7, vec(exports)),
    ...(p.loopingStart ? [section(8, leb(4))] : []),
    section(10, vec(code)),
  ];
}
const assemble = (p: Parts) => Uint8Array.from(sections(p).flat());

const refused = (bytes: Uint8Array, pattern: RegExp, caps: Parameters<typeof checkModule>[1] = {}) => {
  let err: unknown;
  try {
    checkModule(bytes, caps);
  } catch (e) {
    err = e;
  }
  expect(err, "refused").to.be.instanceOf(OperatorError);
  expect((err as OperatorError).message).to.match(pattern);
  expect((err as OperatorError).fix, "says how to fix it")
    .to.be.a("string")
    .with.length.above(0);
  return err as OperatorError;
};

const sample = (n: string) => new Uint8Array(readFileSync(new URL(`../../operators/build/${n}.wasm`, import.meta.url)));
const transfer = (amount: number) => {
  const b = new Uint8Array(48);
  b[19] = 1;
  b[39] = 2;
  b[47] = amount;
  return b;
};

describe("operator sandbox: the module check", function () {
  const bounded = assemble({ memories: [limits(1, 4)] });

  it("accepts a module with one bounded memory, and reports what it declares", function () {
    expect(inspectModule(bounded)).to.deep.equal({
      memories: [{ min: 1, max: 4, shared: false, is64: false }],
      tables: [],
    });
    expect(checkModule(bounded, { maxMemoryPages: 4 }).memories).to.have.length(1);
    const withTable = assemble({ memories: [limits(1, 4)], tables: [[FUNCREF, ...limits(2, 10)]] });
    expect(checkModule(withTable, { maxTableElements: 10 }).tables).to.deep.equal([
      { min: 2, max: 10, shared: false, is64: false },
    ]);
  });

  it("accepts the sample operators (one memory of at most 256 pages, no tables)", function () {
    for (const n of ["transfers_to_balances", "sum_by_key", "spin"]) {
      const found = checkModule(sample(n));
      expect(found.memories, n).to.have.length(1);
      expect(found.memories[0].max, n).to.be.at.most(256);
    }
  });

  it("refuses two declared memories", function () {
    const e = refused(assemble({ memories: [limits(1, 2), limits(1)] }), /has 2 memories \(0 imported, 2 declared\)/);
    // Every problem is listed, not only the first: the second memory also has no maximum.
    expect(e.details.join("\n")).to.match(/memory 1 declares maximum: none/);
  });

  it("refuses an imported memory next to a declared one, and an imported memory alone", function () {
    const both = assemble({ imports: [importEntry(0x02, limits(1, 2), "memory")], memories: [limits(1, 2)] });
    refused(both, /has 2 memories \(1 imported, 1 declared\)/);
    const alone = assemble({ imports: [importEntry(0x02, limits(1, 2), "memory")] });
    refused(alone, /imports its memory \(env\.memory\)/);
  });

  it("refuses a memory without a maximum", function () {
    refused(assemble({ memories: [limits(1)] }), /not bounded to 256 pages \(memory 0 declares maximum: none\)/);
  });

  it("refuses a maximum above the cap, and accepts it under a larger cap", function () {
    const big = assemble({ memories: [limits(1, 257)] });
    const e = refused(big, /not bounded to 256 pages \(memory 0 declares maximum: 257 pages\)/);
    expect(e.fix).to.match(/--maximumMemory 256/);
    refused(bounded, /not bounded to 2 pages \(memory 0 declares maximum: 4 pages\)/, { maxMemoryPages: 2 });
    expect(checkModule(big, { maxMemoryPages: 257 }).memories[0].max).to.equal(257);
  });

  it("refuses a 64-bit memory (limits flag 0x04)", function () {
    const m64 = assemble({ memories: [limits(1, 2, 0x04)] });
    expect(inspectModule(m64).memories[0].is64).to.equal(true);
    refused(m64, /memory 0 is a 64-bit memory \(memory64/);
  });

  it("refuses a shared memory (limits flag 0x02)", function () {
    refused(assemble({ memories: [limits(1, 2, 0x02)] }), /memory 0 is shared/);
  });

  it("refuses a table without a maximum, or with one above maxTableElements", function () {
    refused(
      assemble({ memories: [limits(1, 2)], tables: [[FUNCREF, ...limits(1)]] }),
      /table 0 is not bounded to 100000 elements \(maximum: none\)/,
    );
    const big = assemble({ memories: [limits(1, 2)], tables: [[FUNCREF, ...limits(1, 1000)]] });
    refused(big, /table 0 is not bounded to 999 elements \(maximum: 1000\)/, { maxTableElements: 999 });
    expect(checkModule(big).tables).to.have.length(1);
  });

  it("refuses an imported table", function () {
    refused(
      assemble({ imports: [importEntry(0x01, [FUNCREF, ...limits(1, 1)], "table")], memories: [limits(1, 2)] }),
      /imports a table \(env\.table\)/,
    );
  });

  it("refuses a table with an initializer expression (encoding 0x40 0x00), which it does not parse", function () {
    const init = assemble({
      memories: [limits(1, 2)],
      tables: [[0x40, 0x00, FUNCREF, ...limits(1, 1), 0xd0, FUNCREF, END]], // ref.null func
    });
    refused(init, /table 0 with an initializer expression \(encoding 0x40 0x00\)/);
  });

  it("refuses every truncation of a module with an OperatorError, never another error", function () {
    const parts = sections({
      imports: [importEntry(0x03, [I32, 0x00], "g")], // a global: the import kinds' parsing is covered too
      memories: [limits(1, 2)],
      tables: [[FUNCREF, ...limits(1, 1)]],
    });
    const whole = Uint8Array.from(parts.flat());
    checkModule(whole);
    // A cut between sections leaves a well-formed (if useless) module: the others are truncated.
    const boundaries = new Set(parts.map((_, i) => parts.slice(0, i + 1).flat().length));
    let cuts = 0;
    for (let n = 0; n < whole.length; ++n) {
      if (boundaries.has(n)) continue;
      cuts += 1;
      expect(() => inspectModule(whole.subarray(0, n)), `cut at ${n}`).to.throw(
        OperatorError,
        /not a WebAssembly module/,
      );
      expect(() => checkModule(whole.subarray(0, n)), `cut at ${n}`).to.throw(OperatorError);
    }
    expect(cuts).to.be.above(50);
  });

  it("refuses malformed LEB128s, sizes past the end and unknown import kinds as not a module", function () {
    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const bad = [
      [1, 2, 3], // not even a header
      [...header.slice(0, 4), 0x0d, 0x00, 0x01, 0x00], // a component, not a core module
      [...header, 5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // a 6-byte section size
      [...header, 5, 0xff, 0xff, 0xff, 0xff, 0x0f], // a section of 4 GiB in a 14-byte file
      [...header, 5, 5, 0xff, 0xff, 0xff, 0xff, 0x0f], // 2^32 - 1 memories in 5 bytes
      [...header, 5, 4, 1, 0x00, 0x01, 0x00], // a byte left over after the section's entries
      [...header, 2, 7, 1, 1, 0x65, 1, 0x78, 0x09, 0x00], // import kind 9
    ];
    for (const b of bad) {
      expect(() => checkModule(Uint8Array.from(b)), b.join(",")).to.throw(OperatorError, /not a WebAssembly module/);
    }
    refused(Uint8Array.from([...header, 5, 3, 1, 0x08, 0x01]), /limits flags 0x08/); // custom page size
  });

  it("answers any corruption of a module with an accepted module or an OperatorError", function () {
    const base = assemble({ memories: [limits(1, 2)], tables: [[FUNCREF, ...limits(1, 1)]] });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (flips) => {
          const b = base.slice();
          for (const [at, v] of flips) b[at] = v;
          try {
            checkModule(b);
          } catch (e) {
            expect(e).to.be.instanceOf(OperatorError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("refuses the module in OperatorHost.start, before any thread runs it", async function () {
    const err = await OperatorHost.start(assemble({ memories: [limits(1, 2), limits(1, 2)] })).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OperatorError);
    expect((err as Error).message).to.match(/has 2 memories/);
  });
});

describe("operator sandbox: the packed messages between host and thread", function () {
  /** The thread's answer for `outputs`, as thread.mjs packs it. */
  const packReply = (outputs: Array<Array<{ data: Uint8Array; diff: bigint }> | null>): Uint8Array => {
    const parts: number[] = [];
    const u32 = (n: number) => parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
    const i64 = (n: bigint) => {
      for (let i = 0n; i < 8n; ++i) parts.push(Number((BigInt.asUintN(64, n) >> (8n * i)) & 0xffn));
    };
    for (const o of outputs) {
      if (o === null) {
        u32(0xffffffff);
        continue;
      }
      u32(o.reduce((s, r) => s + 12 + r.data.length, 0));
      for (const r of o) {
        u32(r.data.length);
        parts.push(...r.data);
        i64(r.diff);
      }
    }
    return Uint8Array.from(parts);
  };
  const record = fc.record({ data: fc.uint8Array({ maxLength: 40 }), diff: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n) });

  it("unpacks every answer the thread can give, each output at its input's time", function () {
    fc.assert(
      fc.property(fc.array(fc.option(fc.array(record, { maxLength: 4 }), { nil: null }), { maxLength: 12 }), (outs) => {
        const inputs = outs.map((_, i) => ({ data: "0x", time: BigInt(i + 5), diff: 1n }));
        const got = unpackOutputs(packReply(outs), inputs);
        expect(got).to.have.length(outs.length);
        got.forEach((g, i) => {
          if (outs[i] === null) return expect(g).to.equal(null);
          expect(g!.map((d) => [Buffer.from(d.data as Uint8Array).toString("hex"), d.diff, d.time])).to.deep.equal(
            outs[i]!.map((r) => [Buffer.from(r.data).toString("hex"), r.diff, BigInt(i + 5)]),
          );
        });
      }),
    );
  });

  it("refuses an answer cut anywhere, or with bytes that do not add up, never giving garbage", function () {
    fc.assert(
      fc.property(
        fc.array(fc.array(record, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (outs, cut) => {
          const packed = packReply(outs);
          const inputs = outs.map(() => ({ data: "0x", time: 1n, diff: 1n }));
          expect(() => unpackOutputs(packed.subarray(0, cut % packed.length), inputs)).to.throw(/answer is broken/);
          // A byte more, or one output fewer than inputs: broken too.
          expect(() => unpackOutputs(Uint8Array.from([...packed, 0]), inputs)).to.throw(/answer is broken/);
          expect(() => unpackOutputs(packed, [...inputs, inputs[0]])).to.throw(/answer is broken/);
        },
      ),
    );
    const one = [{ data: "0x", time: 1n, diff: 1n }];
    // A length below -1 is no marker; a record that runs past its output's end is cut.
    expect(() => unpackOutputs(Uint8Array.from([0xfe, 0xff, 0xff, 0xff]), one)).to.throw(/claims -2 bytes/);
    const overrun = packReply([[{ data: Uint8Array.from([1, 2]), diff: 1n }]]);
    overrun[4] = 3; // the record claims 3 data bytes, its output holds 2
    expect(() => unpackOutputs(overrun, one)).to.throw(/ends inside a record/);
  });

  it("gives each record's data as a view into the answer, its own bytes and no others (no copy per record)", function () {
    const packed = packReply([
      [
        { data: Uint8Array.from([9, 8]), diff: 1n },
        { data: Uint8Array.from([7]), diff: -1n },
      ],
    ]);
    const [[a, b]] = unpackOutputs(packed, [{ data: "0x", time: 1n, diff: 1n }]) as Delta[][];
    expect((a.data as Uint8Array).buffer).to.equal(packed.buffer);
    expect([...(a.data as Uint8Array)]).to.deep.equal([9, 8]);
    expect([...(b.data as Uint8Array)]).to.deep.equal([7]);
    expect([a.diff, b.diff]).to.deep.equal([1n, -1n]);
  });

  it("packs inputs of either form (hex or bytes) alike", function () {
    const a = packInputs([{ data: "0x0102", time: 1n, diff: -3n }]);
    const b = packInputs([{ data: Uint8Array.from([1, 2]), time: 9n, diff: -3n }]);
    expect(Buffer.from(a).equals(Buffer.from(b))).to.equal(true);
    expect(Buffer.from(a).toString("hex")).to.equal("020000000102fdffffffffffffff");
  });
});

/**
 * Runs one request in a bare operator thread with the given caps, as the host would send it: the
 * checks that back the host's own (the host never gives caps below what it checked).
 */
async function runInThread(
  bytes: Uint8Array,
  caps: { maxMemoryPages: number; maxOutputRecords: number },
  deltas: Delta[],
): Promise<{ id?: number; error?: string }> {
  const thread = new Worker(new URL("../../worker/operators/thread.mjs", import.meta.url), {
    workerData: {
      maxOutputRecords: caps.maxOutputRecords,
      maxOutputBytes: 1 << 20,
      clock: new BigInt64Array(new SharedArrayBuffer(32)),
    },
  });
  try {
    const next = () => new Promise<{ ready?: boolean; id?: number; error?: string }>((r) => thread.once("message", r));
    const ready = next();
    thread.postMessage({ id: 0, start: 7, bytes, maxMemoryPages: caps.maxMemoryPages, maxTableElements: 10 });
    expect(await ready).to.deep.equal({ id: 0, ready: true });
    const reply = next();
    const packed = packInputs(deltas);
    thread.postMessage({ id: 1, instance: 7, count: deltas.length, packed }, [packed]);
    return await reply;
  } finally {
    await thread.terminate();
  }
}

describe("operator sandbox: at run time", function () {
  this.timeout(60_000);

  it("keeps no answer alive once its outputs are dropped (the request queue settles to nothing)", async function () {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const map = await OperatorHost.start(sample("transfers_to_balances"));
    try {
      let outputs: Delta[] | undefined = (await map.process([{ data: transfer(7), time: 1n, diff: 1n }])).flat();
      const answer = new WeakRef((outputs[0].data as Uint8Array).buffer);
      expect(outputs.map((d) => d.diff)).to.deep.equal([-7n, 7n]);
      outputs = undefined;
      // A WeakRef holds its target until the current job ends: collect after a turn of the loop.
      for (let i = 0; i < 5 && answer.deref() !== undefined; ++i) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      expect(answer.deref(), "the host still holds the answer").to.equal(undefined);
    } finally {
      await map.close();
    }
  });

  it("runs the sample operators in a thread with a small JS heap", async function () {
    const map = await OperatorHost.start(sample("transfers_to_balances"));
    const reduce = await OperatorHost.start(sample("sum_by_key"));
    const spin = await OperatorHost.start(sample("spin"));
    try {
      for (const host of [map, reduce, spin]) {
        expect(host.threadLimits).to.include({ maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 });
      }
      const changes = (await map.process([{ data: transfer(7), time: 1n, diff: 1n }])).flat();
      expect(changes.map((d) => d.diff)).to.deep.equal([-7n, 7n]);
      expect((await reduce.process(changes)).flat()).to.have.length.at.least(2);
      const echo = new TextEncoder().encode("echo");
      expect((await spin.process([{ data: echo, time: 1n, diff: 1n }]))[0]).to.have.length(1);
    } finally {
      await Promise.all([map.close(), reduce.close(), spin.close()]);
    }
  });

  it("sends a batch too large for the thread's heap in chunks", async function () {
    // 100 000 transfers and their 200 000 outputs in one message would exceed the 64 MiB heap.
    const map = await OperatorHost.start(sample("transfers_to_balances"), { perDeltaMs: 1 });
    try {
      const deltas = Array.from({ length: 100_000 }, (_, i) => ({ data: transfer(1 + (i % 200)), time: i, diff: 1n }));
      const outputs = await map.process(deltas);
      expect(outputs).to.have.length(100_000);
      expect(outputs[99_999].map((d) => [d.time, d.diff])).to.deep.equal([
        [99_999n, -200n],
        [99_999n, 200n],
      ]);
    } finally {
      await map.close();
    }
  });

  it("cuts chunks by bytes, the same whether data comes as bytes or as hex", async function () {
    // 1 MiB records: four to a 4 MiB chunk. As 0x-hex they are twice as many characters.
    const map = await OperatorHost.start(sample("transfers_to_balances"), { perDeltaMs: 1 });
    try {
      const runs: number[] = [];
      const inner = map as unknown as { run(deltas: Delta[], input?: number): Promise<OperatorOutput[]> };
      const run = inner.run.bind(map);
      inner.run = (deltas, input) => (runs.push(deltas.length), run(deltas, input));
      const big = new Uint8Array(1 << 20).fill(7);
      const asBytes = Array.from({ length: 8 }, (_, i) => ({ data: big, time: i, diff: 1n }));
      const asHex = asBytes.map((d) => ({ ...d, data: hexlify(big) }));
      await map.process(asBytes);
      const byBytes = runs.splice(0);
      await map.process(asHex);
      expect(runs).to.deep.equal(byBytes);
      expect(byBytes).to.deep.equal([4, 4]);
    } finally {
      await map.close();
    }
  });

  it("lets a memory grow to the cap exactly, the engine holding it there", async function () {
    // process grows the memory by a page per call: from 1 page to the declared (and capped) 2.
    const grower = assemble({ memories: [limits(1, 2)], process: [0x41, 0x01, 0x40, 0x00, 0x1a, 0x41, 0x00] });
    const host = await OperatorHost.start(grower, { maxMemoryPages: 2 });
    try {
      for (let i = 0; i < 3; ++i) {
        expect(await host.process([{ data: new Uint8Array(1), time: 1n, diff: 1n }])).to.deep.equal([[]]);
      }
    } finally {
      await host.close();
    }
  });

  it("fails a request when an exported memory grows past the thread's cap", async function () {
    // The host never gives a cap below the declared maximum (it refuses such modules): this drives
    // the thread directly, as the host would, to see the check that backs the engine's.
    const grower = assemble({ memories: [limits(1, 8)], process: [0x41, 0x03, 0x40, 0x00, 0x1a, 0x41, 0x00] });
    const reply = await runInThread(grower, { maxMemoryPages: 2, maxOutputRecords: 100 }, [
      { data: new Uint8Array(1), time: 1n, diff: 1n },
    ]);
    expect(reply).to.deep.include({ id: 1 });
    expect(reply.error).to.match(/memory "memory" grew to 4 pages \(262144 bytes\), above the cap of 2 pages/);
  });

  it("fails a request whose outputs pass the thread's output caps", async function () {
    // Each transfer gives two records: the second transfer passes a cap of 3.
    const reply = await runInThread(sample("transfers_to_balances"), { maxMemoryPages: 256, maxOutputRecords: 3 }, [
      { data: transfer(1), time: 1n, diff: 1n },
      { data: transfer(2), time: 2n, diff: 1n },
    ]);
    expect(reply.error).to.match(/produced more than 3 records or 1048576 bytes for 2 deltas/);
  });

  it("counts the thread's time against the budget, not a busy main thread's", async function () {
    // A worker's main thread can be busy for seconds (verifying, signing, a garbage collection).
    // When it comes back, its expired timer runs before the thread's waiting answer is read: the
    // operator answered in time and must not be stopped for the host's delay.
    const map = await OperatorHost.start(sample("transfers_to_balances"), { perDeltaMs: 1 });
    try {
      // In the loop's check phase: the request goes out (microtasks only), then the main thread is
      // busy past the whole budget while the thread answers. The next turn of the loop runs the
      // expired timer before it reads the thread's message.
      const answer = await new Promise<Promise<OperatorOutput[]>>((r) =>
        setImmediate(async () => {
          const pending = map.process([{ data: transfer(7), time: 1n, diff: 1n }]);
          for (let i = 0; i < 20; ++i) await Promise.resolve(); // posted, the timer armed
          const until = Date.now() + RUN_ALLOWANCE_MS + 1_000;
          while (Date.now() < until);
          r(pending);
        }),
      );
      expect((await answer).flat().map((d) => d.diff)).to.deep.equal([-7n, 7n]);
      // A second request after the stall is served too: nothing was stopped.
      expect((await map.process([{ data: transfer(3), time: 2n, diff: 1n }])).flat()).to.have.length(2);
    } finally {
      await map.close();
    }
  });

  it("starts an operator whose thread was ready in time while the main thread was busy past the start budget", async function () {
    const starting = await new Promise<Promise<OperatorHost>>((r) =>
      setImmediate(() => {
        const host = OperatorHost.start(sample("transfers_to_balances"));
        const until = Date.now() + 6_000; // past the 5 s start budget; the thread is ready long before
        while (Date.now() < until);
        r(host);
      }),
    );
    const host = await starting;
    try {
      expect((await host.process([{ data: transfer(7), time: 1n, diff: 1n }])).flat()).to.have.length(2);
    } finally {
      await host.close();
    }
  });

  it("still stops an operator that overruns on its own thread, even while the main thread is busy", async function () {
    const spin = await OperatorHost.start(sample("spin"), { perDeltaMs: 1 });
    try {
      const started = Date.now();
      const answer = spin.process([{ data: new TextEncoder().encode("loop"), time: 1n, diff: 1n }]).catch((e) => e);
      await new Promise((r) => setTimeout(r, 50));
      const until = Date.now() + 1_000;
      while (Date.now() < until);
      const err = await answer;
      expect(err).to.be.instanceOf(OperatorError);
      expect((err as Error).message).to.match(/timeout: more than 2001 ms for 1 deltas/);
      expect(Date.now() - started).to.be.below(RUN_ALLOWANCE_MS + 3_000);
    } finally {
      await spin.close();
    }
  });

  it("stops a module whose start function never returns, with an OperatorError", async function () {
    const started = Date.now();
    const err = await OperatorHost.start(assemble({ memories: [limits(1, 2)], loopingStart: true })).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(OperatorError);
    expect((err as Error).message).to.match(/could not start: no answer within 5000 ms/);
    expect(Date.now() - started).to.be.below(20_000);
  });
});

describe("operator sandbox: instances sharing a thread", function () {
  this.timeout(60_000);
  const text = (t: string) => new TextEncoder().encode(t);
  /** Account 0xaa…'s running sum as sum_by_key emits it last for `changes`. */
  const sums = (outputs: OperatorOutput[]) => outputs.flat().map((d) => d.diff);

  it("runs every instance in one thread, each with its own state, and stops the thread with the last", async function () {
    const before = OperatorThread.live;
    const a = await OperatorHost.start(sample("sum_by_key"));
    const b = await OperatorHost.start(sample("sum_by_key"));
    const map = await OperatorHost.start(sample("transfers_to_balances"));
    try {
      expect(OperatorThread.live - before).to.equal(1);
      const changes = (await map.process([{ data: transfer(7), time: 1n, diff: 1n }])).flat();
      // Both instances see the same changes, a twice: a's sums move on, b's start from nothing.
      const first = sums(await a.process(changes));
      expect(sums(await a.process(changes))).to.not.deep.equal(first);
      expect(sums(await b.process(changes))).to.deep.equal(first);
    } finally {
      await Promise.all([a.close(), b.close()]);
      expect(OperatorThread.live - before).to.equal(1); // map still holds it
      await map.close();
    }
    // The exit event comes after terminate resolves.
    for (let i = 0; i < 50 && OperatorThread.live > before; ++i) await new Promise((r) => setTimeout(r, 10));
    expect(OperatorThread.live).to.equal(before);
  });

  it("stops only the instance that trapped; the others in its thread go on", async function () {
    const spin = await OperatorHost.start(sample("spin"));
    const echo = await OperatorHost.start(sample("spin"));
    try {
      const err = await spin.process([{ data: text("trap"), time: 1n, diff: 1n }]).catch((e) => e);
      expect(err).to.be.instanceOf(OperatorError);
      expect((err as Error).message).to.match(/The operator failed: .*unreachable/);
      expect(await spin.process([{ data: text("hi"), time: 2n, diff: 1n }]).catch((e) => e)).to.be.instanceOf(
        OperatorError,
      );
      expect((await echo.process([{ data: text("hi"), time: 3n, diff: 1n }]))[0]).to.have.length(1);
    } finally {
      await Promise.all([spin.close(), echo.close()]);
    }
  });

  it("stops the shared thread when an instance overruns: the others fail with an OperatorError, and a restart in its own thread is not disturbed by another overrun", async function () {
    const spin = await OperatorHost.start(sample("spin"), { perDeltaMs: 1 });
    const map = await OperatorHost.start(sample("transfers_to_balances"));
    try {
      const looping = spin.process([{ data: text("loop"), time: 1n, diff: 1n }]).catch((e) => e);
      const queued = map.process([{ data: transfer(5), time: 1n, diff: 1n }]).catch((e) => e);
      const culprit = await looping;
      expect(culprit).to.be.instanceOf(OperatorError);
      expect((culprit as OperatorError).lostWithThread, "the looping one failed itself").to.equal(false);
      const err = await queued;
      expect(err).to.be.instanceOf(OperatorError);
      expect((err as Error).message).to.match(/an operator in it overran/);
      expect((err as OperatorError).lostWithThread, "the other was lost with the thread").to.equal(true);
      // The worker restarts the failed instances, each in a thread of its own (EpochRun); the
      // operator that looped loops again and stops nothing but itself.
      const own = await OperatorHost.start(sample("transfers_to_balances"), { ownThread: true });
      const again = await OperatorHost.start(sample("spin"), { perDeltaMs: 1, ownThread: true });
      const shared = await OperatorHost.start(sample("transfers_to_balances"));
      try {
        expect(await again.process([{ data: text("loop"), time: 1n, diff: 1n }]).catch((e) => e)).to.be.instanceOf(
          OperatorError,
        );
        expect((await own.process([{ data: transfer(5), time: 1n, diff: 1n }])).flat()).to.have.length(2);
        expect((await shared.process([{ data: transfer(5), time: 1n, diff: 1n }])).flat()).to.have.length(2);
      } finally {
        await Promise.all([own.close(), again.close(), shared.close()]);
      }
    } finally {
      await Promise.all([spin.close(), map.close()]);
    }
  });

  it("keeps many instances' requests apart in one thread (answers by request, no listener per request)", async function () {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const hosts = await Promise.all(Array.from({ length: 24 }, () => OperatorHost.start(sample("spin"))));
    try {
      const answers = await Promise.all(
        hosts.map((h, i) => h.process([{ data: text(`n${i}`), time: BigInt(i), diff: BigInt(i + 1) }])),
      );
      answers.forEach((a, i) => {
        expect(new TextDecoder().decode(a[0][0].data as Uint8Array)).to.equal(`n${i}`);
        expect(a[0][0].diff).to.equal(BigInt(i + 1));
      });
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).to.not.include("MaxListenersExceededWarning");
    } finally {
      process.off("warning", onWarning);
      await Promise.all(hosts.map((h) => h.close()));
    }
  });

  it("starts an instance whose shared thread was stopped under its start (by another's overrun) in a fresh one", async function () {
    const spin = await OperatorHost.start(sample("spin"), { perDeltaMs: 1 });
    try {
      const looping = spin.process([{ data: text("loop"), time: 1n, diff: 1n }]).catch((e) => e);
      await new Promise((r) => setTimeout(r, 50)); // the loop is running
      // Queued behind the loop: the thread is stopped before it takes this start.
      const map = await OperatorHost.start(sample("transfers_to_balances"));
      try {
        expect(await looping).to.be.instanceOf(OperatorError);
        expect((await map.process([{ data: transfer(5), time: 1n, diff: 1n }])).flat()).to.have.length(2);
      } finally {
        await map.close();
      }
    } finally {
      await spin.close();
    }
  });

  it("never keeps the process alive by itself: a process with an instance it did not close exits", function () {
    const script = `
      import { readFileSync } from "node:fs";
      import { OperatorHost } from "./worker/operators/host.ts";
      await OperatorHost.start(new Uint8Array(readFileSync("operators/build/sum_by_key.wasm")));
      console.log("started");`;
    const started = Date.now();
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: new URL("../../", import.meta.url).pathname,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(out.trim()).to.equal("started");
    expect(Date.now() - started).to.be.below(20_000);
  });
});
