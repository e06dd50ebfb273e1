// The receiver's replica agreement (worker/engine/agreement.ts): a time's deltas are used once, and
// only when every live holder of its source shard sent the same copy; differing copies are held
// back and listed, never used; a silent holder delays the decision until the epoch closes, and is
// then reported missing while the others' agreeing copy is used.
import { expect } from "chai";
import { pino } from "pino";
import type { Delta } from "../../client/math/lthash.js";
import {
  Agreement,
  LISTED_DISAGREEMENTS,
  UNDECIDED_LIMIT,
  groupDigest,
  sameDeltas,
} from "../../worker/engine/agreement.js";
import fc from "fast-check";
import { prng } from "../utils/prng.js";
import { getBytes } from "ethers";
import { groupByTime } from "../../worker/exchange/packing.js";

const log = pino({ level: "silent" });
const S = "0x" + "aa".repeat(32);
const [A, B, C] = ["0xa", "0xb", "0xc"];

/** Source times 0..99 belong to source shard time % 2; shard 0 is held by A and B, shard 1 by B and C. */
function setup(
  opts: {
    known?: (t: bigint) => boolean;
    live?: (w: string) => boolean;
    /** What this worker computes itself for a time (none: it cannot). */
    truth?: (t: bigint) => Delta[] | undefined;
    /** Times nobody can compute again (a state handoff's): taken from agreeing final copies. */
    unconfirmed?: (t: bigint) => boolean;
  } = {},
) {
  const used: Delta[][] = [];
  const asked: bigint[] = [];
  /** What the agreement handed to the dispute desk: time, right holders, wrong holders. */
  const conflicts: Array<[bigint, string[], string[]]> = [];
  const closed = new Set<string>();
  const agreement = new Agreement({
    epoch: 1n,
    log,
    holdersOf: (t) => {
      if (opts.known && !opts.known(t)) return undefined;
      const originShard = Number(t % 2n);
      const holders = (originShard === 0 ? [A, B] : [B, C]).filter((w) => opts.live?.(w) ?? true);
      return { originShard, holders };
    },
    closed: (h, stream, origin, shard) =>
      closed.has(`${h}|${stream}|${origin}|${shard}`) || closed.has(`${h}|${stream}|*|${shard}`),
    use: (_stream, _shard, deltas) => used.push(deltas),
    conflict: (slot, right, wrong) => conflicts.push([slot.time, right, wrong]),
    ...(opts.unconfirmed ? { takeUnconfirmed: (slot: { time: bigint }) => opts.unconfirmed!(slot.time) } : {}),
    ...(opts.truth
      ? {
          recompute: async (slot: { time: bigint }) => {
            asked.push(slot.time);
            return opts.truth!(slot.time);
          },
        }
      : {}),
  });
  /** A batch on the channel of the first delta's source shard (or `origin`). */
  const offer = (sender: string, deltas: Delta[], shard = 3, origin = Number(BigInt(deltas[0].time) % 2n)) =>
    agreement.offer(sender, S, origin, shard, groupByTime(deltas));
  /** Closes a sender's channel of one origin shard, or of every origin. */
  const close = (sender: string, shard = 3, origin: number | "*" = "*") =>
    closed.add(`${sender}|${S}|${origin}|${shard}`);
  return { agreement, used, offer, close, asked, conflicts };
}

const d = (time: number, data: string, diff = 1n): Delta => ({ time: BigInt(time), data, diff });

describe("worker: replica agreement", function () {
  it("uses a time once, only when every live holder's copy is final and equal", function () {
    const { agreement, used, offer } = setup();
    offer(A, [d(0, "0x01"), d(0, "0x02")]);
    offer(B, [d(0, "0x01"), d(0, "0x02")]);
    expect(used).to.deep.equal([]); // neither lane has passed time 0 yet
    offer(A, [d(2, "0x03")]);
    expect(used).to.deep.equal([]); // B's copy may still grow
    offer(B, [d(2, "0x03")]);
    expect(used).to.deep.equal([[d(0, "0x01"), d(0, "0x02")]]);
    expect(agreement.stats.agreedGroups).to.equal(1);
    expect(agreement.open).to.equal(1); // time 2 waits
  });

  it("joins a group continued at the start of the next batch before comparing", function () {
    const { used, offer } = setup();
    offer(A, [d(0, "0x01"), d(0, "0x02")]);
    offer(A, [d(0, "0x03"), d(2, "0x04")]);
    offer(B, [d(0, "0x01")]);
    offer(B, [d(0, "0x02"), d(0, "0x03")]);
    offer(B, [d(2, "0x04")]);
    expect(used).to.deep.equal([[d(0, "0x01"), d(0, "0x02"), d(0, "0x03")]]);
  });

  it("takes a handoff time nobody can compute from the final copy beside a silent holder, and counts it", async function () {
    const { agreement, used, offer, close, asked } = setup({ unconfirmed: (t) => t >= 10n });
    offer(A, [d(10, "0x01", 7n)]); // B (its co-holder) stayed silent
    close(A);
    agreement.settle(false);
    expect(used, "not before the epoch closes").to.deep.equal([]);
    agreement.settle(true);
    await agreement.idle();
    expect(used).to.deep.equal([[d(10, "0x01", 7n)]]);
    expect(asked).to.deep.equal([]);
    expect(agreement.stats).to.include({ unconfirmedGroups: 1, heldBackGroups: 0, recomputedGroups: 0 });
    expect(agreement.singleHolder()).to.deep.equal([{ originShard: 0, missing: [B], groups: 1 }]);
  });

  it("counts a handoff time two holders agree on as confirmed, though a third stayed silent", async function () {
    const used: Delta[][] = [];
    // Three holders: A and B agree, C is silent.
    const three = new Agreement({
      epoch: 1n,
      log,
      holdersOf: () => ({ originShard: 0, holders: [A, B, C] }),
      closed: (h) => h !== C,
      use: (_s, _sh, ds) => used.push(ds),
      takeUnconfirmed: () => true,
    });
    three.offer(A, S, 0, 3, groupByTime([d(10, "0x01", 4n)]));
    three.offer(B, S, 0, 3, groupByTime([d(10, "0x01", 4n)]));
    three.settle(true);
    await three.idle();
    expect(used).to.deep.equal([[d(10, "0x01", 4n)]]);
    expect(three.stats).to.include({ agreedGroups: 1, unconfirmedGroups: 0 });
    expect(three.singleHolder()).to.deep.equal([{ originShard: 0, missing: [C], groups: 1 }]);
  });

  it("never takes differing handoff copies, nor one with every holder silent: held back", async function () {
    const { agreement, used, offer, close } = setup({ unconfirmed: () => true });
    offer(A, [d(10, "0x01", 7n)]);
    offer(B, [d(10, "0x01", 8n)]);
    close(A, 3, 0);
    close(B, 3, 0);
    offer(B, [d(13, "0x03", 1n)]); // origin 1: B's copy not final (its lane is open), C silent
    agreement.settle(true);
    await agreement.idle();
    expect(used).to.deep.equal([]);
    expect(agreement.stats).to.include({ unconfirmedGroups: 0, heldBackGroups: 2, disagreementCount: 1 });
  });

  it("holds back copies that differ when it cannot compute the time, lists them and never uses either", async function () {
    const { agreement, used, offer, close, conflicts } = setup();
    offer(A, [d(0, "0x01", 5n), d(2, "0x02")]);
    offer(B, [d(0, "0x01", 6n), d(2, "0x02")]);
    close(A);
    close(B);
    agreement.settle(false);
    await agreement.idle();
    expect(used).to.deep.equal([[d(2, "0x02")]]);
    expect(conflicts, "nobody is disputed without knowing who was right").to.deep.equal([]);
    expect(agreement.stats).to.include({ heldBackGroups: 1, disagreementCount: 1, agreedGroups: 1 });
    const [x] = agreement.disagreements;
    expect(x).to.include({ stream: S, shard: 3, time: "0", originShard: 0 });
    expect(Object.keys(x.copies)).to.deep.equal([A, B]);
    expect(x.copies[A]).to.not.equal(x.copies[B]);
  });

  it("treats a holder that passed a time with nothing for it as a differing copy", function () {
    const { agreement, used, offer } = setup();
    offer(A, [d(0, "0x01"), d(2, "0x02")]);
    offer(B, [d(2, "0x02")]); // B passed time 0 without a group: it says "nothing"
    offer(A, [d(4, "0x03")]);
    offer(B, [d(4, "0x03")]);
    expect(used).to.deep.equal([[d(2, "0x02")]]);
    expect(agreement.disagreements[0].copies[B]).to.equal("none");
  });

  it("waits for a silent holder until the epoch closes, then checks the others' copy against its own computation", async function () {
    const { agreement, used, offer, close, asked } = setup({ truth: () => [d(0, "0x01")] });
    offer(A, [d(0, "0x01")]);
    close(A);
    agreement.settle(false);
    expect(used).to.deep.equal([]);
    agreement.settle(true);
    await agreement.idle();
    expect(asked).to.deep.equal([0n]);
    expect(used).to.deep.equal([[d(0, "0x01")]]);
    expect(agreement.disagreements).to.deep.equal([]);
    expect(agreement.singleHolder()).to.deep.equal([{ originShard: 0, missing: [B], groups: 1 }]);
    expect(agreement.missingBy.get(B)).to.equal(1);
  });

  it("never takes a lone copy on trust: with its co-holder silent, a wrong copy is replaced and named", async function () {
    const { agreement, used, offer, close } = setup({ truth: () => [d(0, "0x01", 1n)] });
    offer(A, [d(0, "0x01", 2n)]); // A is wrong, B (the honest co-holder) crashed
    close(A);
    agreement.settle(true);
    await agreement.idle();
    expect(used).to.deep.equal([[d(0, "0x01", 1n)]]);
    expect(agreement.disagreements.map((x) => x.right)).to.deep.equal([[]]);
    expect(agreement.singleHolder()).to.deep.equal([]);
  });

  it("digests groups injectively: data boundaries and diffs cannot be shifted into one another", function () {
    const two = [d(0, "0x01"), d(0, "0x02")];
    const one = [d(0, "0x01000000010200000000000000")];
    expect(groupDigest(two)).to.not.equal(groupDigest(one));
    expect(groupDigest([d(0, "0x0102", -1n)])).to.not.equal(groupDigest([d(0, "0x0102", 1n)]));
    expect(groupDigest(two)).to.equal(groupDigest([d(5, "0x01"), d(5, "0x02")])); // time is the slot's
  });

  it("computes a time itself when every holder of its source shard is ejected (no copy is a replica's)", async function () {
    const { agreement, used, offer, close, asked } = setup({
      live: (w) => w === C,
      truth: (t) => [d(Number(t), "0x07")],
    });
    offer(A, [d(0, "0x66")]); // an ejected holder's copy: not a live replica's
    close(A);
    agreement.settle(true);
    await agreement.idle();
    expect(asked).to.deep.equal([0n]);
    expect(used).to.deep.equal([[d(0, "0x07")]]);
  });

  it("compares copies byte for byte exactly when their digests are equal (the fast path decides as the digests would)", function () {
    const delta = fc.record({
      data: fc.uint8Array({ maxLength: 6 }),
      diff: fc.bigInt({ min: -3n, max: 3n }),
      hex: fc.boolean(),
    });
    const group = fc.array(delta, { maxLength: 4 });
    const asDeltas = (g: Array<{ data: Uint8Array; diff: bigint; hex: boolean }>): Delta[] =>
      g.map((x) => ({ data: x.hex ? `0x${Buffer.from(x.data).toString("hex")}` : x.data, time: 0n, diff: x.diff }));
    fc.assert(
      fc.property(group, group, fc.integer({ min: 0, max: 2 }), (a, b, copy) => {
        // Often the same group (as hex on one side and bytes on the other, or hex on both in
        // another case), otherwise an independent one.
        const x = asDeltas(a);
        const upper = (ds: Delta[]) =>
          ds.map((d) => (typeof d.data === "string" ? { ...d, data: `0x${d.data.slice(2).toUpperCase()}` } : d));
        const y =
          copy === 1 ? asDeltas(a.map((v) => ({ ...v, hex: !v.hex }))) : copy === 2 ? upper(asDeltas(a)) : asDeltas(b);
        expect(sameDeltas(x, y)).to.equal(groupDigest(x) === groupDigest(y));
      }),
      { numRuns: 500 },
    );
    expect(sameDeltas(undefined, undefined)).to.equal(true);
    expect(sameDeltas([d(0, "0x01")], undefined)).to.equal(false);
    expect(sameDeltas([d(0, "0x01")], [{ data: getBytes("0x01"), time: 9n, diff: 1n }])).to.equal(true);
  });

  it("stops trusting a sender's channel past UNDECIDED_LIMIT waiting deltas, and computes its times instead", async function () {
    const truth = (t: bigint) => [d(Number(t), "0x01")];
    const { agreement, used, offer, close, asked } = setup({ truth });
    const big = Array.from({ length: UNDECIDED_LIMIT }, () => d(0, "0x01"));
    offer(A, big.slice(0, 1)); // A: time 0, one delta; B sends its whole limit first
    offer(B, big);
    offer(B, [d(2, "0x01")]); // over the limit: dropped, B's lane no longer final
    expect(agreement.stats.overLimit).to.equal(1);
    offer(A, [d(2, "0x01")]);
    offer(A, [d(4, "0x09")]);
    offer(B, [d(4, "0x09")]);
    close(A);
    close(B);
    agreement.settle(false);
    expect(agreement.open, "B's overflowed lane is never final").to.be.greaterThan(0);
    agreement.settle(true);
    await agreement.idle();
    expect(asked).to.include(2n);
    expect(used).to.deep.include([d(2, "0x01")]);
  });

  it("closes channels by origin shard: another origin's end does not make a copy final", function () {
    const { agreement, used, offer, close } = setup();
    offer(A, [d(0, "0x01")]);
    offer(B, [d(0, "0x01")]);
    close(A, 3, 1);
    close(B, 3, 1);
    agreement.settle(false);
    expect(used).to.deep.equal([]);
    close(A, 3, 0);
    close(B, 3, 0);
    agreement.settle(false);
    expect(used).to.deep.equal([[d(0, "0x01")]]);
  });

  it("decides with the live holders only: an ejected holder is not waited for", function () {
    const { used, offer, close, agreement } = setup({ live: (w) => w !== B });
    offer(A, [d(0, "0x01")]);
    close(A);
    agreement.settle(false);
    expect(used).to.deep.equal([[d(0, "0x01")]]);
    expect(agreement.singleHolder()).to.deep.equal([]);
  });

  it("uses no copy that is not final when the epoch closes (it may be part of a group): computes it, or holds it back", async function () {
    const cannot = setup();
    cannot.offer(A, [d(0, "0x01")]);
    cannot.agreement.settle(true);
    await cannot.agreement.idle();
    expect(cannot.used).to.deep.equal([]);
    expect(cannot.agreement.stats.heldBackGroups).to.equal(1);
    expect(cannot.agreement.missingBy.get(A), "A sent a copy: not withholding").to.equal(undefined);
    expect(cannot.agreement.missingBy.get(B)).to.equal(1);

    const can = setup({ truth: () => [d(0, "0x01"), d(0, "0x02")] });
    can.offer(A, [d(0, "0x01")]); // the first piece of a group whose rest never came
    can.agreement.settle(true);
    await can.agreement.idle();
    expect(can.asked).to.deep.equal([0n]);
    expect(can.used).to.deep.equal([[d(0, "0x01"), d(0, "0x02")]]);
    expect(can.agreement.stats).to.include({ recomputedGroups: 1, heldBackGroups: 0, disagreementCount: 0 });
  });

  it("does not take a final 'nothing' over an unconfirmed copy: it computes the time", async function () {
    const truth = (t: bigint) => (t === 0n ? [d(0, "0x01")] : [d(2, "0x02")]);
    const { agreement, used, offer, close, asked } = setup({ truth });
    offer(A, [d(0, "0x01")]); // A's channel never closes
    offer(B, [d(2, "0x02")]); // B passed time 0 with nothing for it
    close(B);
    agreement.settle(true);
    await agreement.idle();
    expect(asked).to.deep.equal([0n, 2n]); // time 2: A is silent there
    expect(used).to.deep.equal([[d(0, "0x01")], [d(2, "0x02")]]);
    // B's "nothing" at time 0 differs from what this worker computed: B is named.
    expect(agreement.disagreements.map((x) => [x.time, x.right])).to.deep.equal([["0", []]]);
    expect(agreement.singleHolder()).to.deep.equal([{ originShard: 0, missing: [A], groups: 1 }]);
  });

  it("uses what it computes itself when copies differ, and names the holders that sent the same", async function () {
    const { agreement, used, offer, close, conflicts } = setup({ truth: () => [d(0, "0x01", 5n)] });
    offer(A, [d(0, "0x01", 5n)]);
    offer(B, [d(0, "0x01", 6n)]);
    close(A);
    close(B);
    agreement.settle(false);
    await agreement.idle();
    expect(used).to.deep.equal([[d(0, "0x01", 5n)]]);
    expect(agreement.disagreements[0].right).to.deep.equal([A]);
    expect(conflicts, "the wrong holder goes to the dispute desk").to.deep.equal([[0n, [A], [B]]]);
    expect(agreement.stats).to.include({ disagreementCount: 1, recomputedGroups: 1, heldBackGroups: 0 });
  });

  it("ignores copies from a worker that does not hold the time's source shard", function () {
    const { agreement, used, offer, close } = setup();
    offer(C, [d(0, "0x66")]); // C holds source shard 1, not 0
    offer(A, [d(0, "0x01")]);
    offer(B, [d(0, "0x01")]);
    close(A);
    close(B);
    close(C);
    agreement.settle(false);
    expect(used).to.deep.equal([[d(0, "0x01")]]);
    expect(agreement.stats.notFromHolder).to.equal(1);
  });

  it("ignores a copy sent on the channel of another origin shard", function () {
    const { agreement, used, offer, close } = setup();
    offer(B, [d(0, "0x01")], 3, 1); // B holds source shards 0 and 1: time 0 belongs to 0
    offer(A, [d(0, "0x01")]);
    close(A);
    close(B);
    agreement.settle(false);
    expect(used).to.deep.equal([]); // B's copy on its origin-0 channel never came: a disagreement
    expect(agreement.stats.notFromHolder).to.equal(1);
    expect(agreement.disagreements[0].copies[B]).to.equal("none");
  });

  it("waits for a time's source delta to be read, and drops a time that is none when the epoch closes", function () {
    const { agreement, used, offer, close } = setup({ known: (t) => t < 50n });
    offer(A, [d(60, "0x01")]);
    offer(B, [d(60, "0x01")]);
    close(A);
    close(B);
    agreement.settle(false);
    expect(agreement.open).to.equal(1);
    agreement.settle(true);
    expect(used).to.deep.equal([]);
    expect(agreement.stats.unknownTime).to.equal(1);
  });

  it("does not use a time a sender repeats out of order, and ignores copies of decided times", function () {
    const { agreement, used, offer } = setup();
    offer(A, [d(0, "0x01"), d(2, "0x02")]);
    offer(B, [d(0, "0x01"), d(2, "0x02")]);
    offer(A, [d(0, "0x01")]); // back to a passed time
    expect(agreement.stats.divergent).to.equal(1);
    offer(A, [d(4, "0x03"), d(2, "0x05")]); // a time before one the same batch passed
    expect(agreement.stats.divergent).to.equal(2);
    expect(used).to.deep.equal([[d(0, "0x01")]]);
  });

  it("examines only the times a batch can settle: a holder far ahead of its co-holder costs no rescan", function () {
    let asked = 0;
    let closedAll = false;
    const used: Delta[][] = [];
    const agreement = new Agreement({
      epoch: 1n,
      log,
      holdersOf: () => (asked++, { originShard: 0, holders: [A, B] }),
      closed: () => closedAll,
      use: (_s, _sh, deltas) => used.push(deltas),
    });
    const batch = (from: number) => groupByTime(Array.from({ length: 10 }, (_, i) => d(from + i, "0x01")));
    // A runs 2,000 times ahead; B has sent nothing: every time stays open.
    for (let t = 0; t < 2_000; t += 10) agreement.offer(A, S, 0, 3, batch(t));
    expect(agreement.open).to.equal(2_000);
    expect(asked, "A's batches rescanned the open times").to.be.below(2 * 2_000);
    // B catches up: each of its batches settles its own times, and nothing else is examined again.
    asked = 0;
    for (let t = 0; t < 1_990; t += 10) agreement.offer(B, S, 0, 3, batch(t));
    expect(used).to.have.length(1_989); // B's lane has passed every time but its last
    expect(asked, "B's batches rescanned the open times").to.be.below(4 * 2_000);
    // B's last batch settles up to the lanes' last time; a closing is seen by the tick's settle.
    agreement.offer(B, S, 0, 3, batch(1_990));
    expect(used).to.have.length(1_999);
    closedAll = true;
    expect(used).to.have.length(1_999); // no batch came: nothing settled yet
    agreement.settle(false);
    expect(used).to.have.length(2_000);
  });

  it("decides as a full rescan would, whatever order the holders' batches come in", function () {
    // Two holders send the same times 0..n-1 in batches of random sizes, interleaved at random;
    // after every batch, every time both lanes have passed must be used, once, with B's content.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 60, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 120, maxLength: 120 }),
        (n, sizes, turns) => {
          const used = new Map<bigint, number>();
          const agreement = new Agreement({
            epoch: 1n,
            log,
            holdersOf: () => ({ originShard: 0, holders: [A, B] }),
            closed: () => false,
            use: (_s, _sh, deltas) => used.set(BigInt(deltas[0].time), (used.get(BigInt(deltas[0].time)) ?? 0) + 1),
          });
          const at = { [A]: 0, [B]: 0 };
          let k = 0;
          for (const turn of turns) {
            const who = turn ? A : B;
            if (at[who] >= n) continue;
            const size = Math.min(sizes[k++ % sizes.length], n - at[who]);
            // Some times carry no delta from a holder ("nothing") only if both skip it: here all carry one.
            agreement.offer(who, S, 0, 3, groupByTime(Array.from({ length: size }, (_, i) => d(at[who] + i, "0x07"))));
            at[who] += size;
            const passed = Math.min(at[A], at[B]) - 1; // both lanes' last time is not final yet
            for (let t = 0; t < passed; ++t) expect(used.get(BigInt(t)), `time ${t}`).to.equal(1);
            expect([...used.keys()].every((t) => t < BigInt(Math.max(passed, 0)))).to.equal(true);
          }
        },
      ),
    );
  });

  it("decides what a full rescan after every batch decides, once the tick has settled: three holders, skipped times, closings", function () {
    // Holders A, B, C of one origin send increasing times 0..n-1 in batches, each skipping some
    // times ("nothing"), interleaved at random; lanes close at random. A reference agreement
    // rescans everything after every batch (as before the time index); the one under test only
    // settles by batch, and by the tick's settle at random points. After each tick they agree.
    fc.assert(
      fc.property(
        fc.integer({ min: 150, max: 320 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.nat(99)), {
          minLength: 200,
          maxLength: 400,
        }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, steps, seed) => {
          const holders = [A, B, C];
          const make = () => {
            const used: string[] = [];
            const closed = new Set<string>();
            const agreement = new Agreement({
              epoch: 1n,
              log,
              holdersOf: () => ({ originShard: 0, holders }),
              closed: (h) => closed.has(h),
              use: (_s, _sh, deltas) => used.push(`${deltas[0].time}:${deltas.length}`),
            });
            return { agreement, used, closed };
          };
          const ref = make();
          const sut = make();
          const rnd = prng(seed);
          // Whether holder h carries time t: all do for most times; a few are skipped by some.
          const skip = new Set<string>();
          for (let t = 0; t < n; ++t) if (rnd() < 0.15) skip.add(`${holders[Math.floor(rnd() * 3)]}|${t}`);
          const at = [0, 0, 0];
          for (const [who, size, roll] of steps) {
            const h = holders[who];
            if (at[who] >= n) continue;
            const deltas: Delta[] = [];
            for (let t = at[who]; t < Math.min(n, at[who] + size); ++t)
              if (!skip.has(`${h}|${t}`)) deltas.push(d(t, "0x0" + (1 + (t % 7)).toString()));
            at[who] = Math.min(n, at[who] + size);
            if (deltas.length > 0) {
              for (const x of [ref, sut]) x.agreement.offer(h, S, 0, 3, groupByTime(deltas));
              ref.agreement.settle(false);
            }
            if (at[who] >= n && roll < 50) for (const x of [ref, sut]) x.closed.add(h);
            // sut's decisions are always a subset of the reference's
            expect(sut.used.every((u) => ref.used.includes(u))).to.equal(true);
            if (roll % 5 === 0) {
              sut.agreement.settle(false);
              ref.agreement.settle(false);
              expect([...sut.used].sort()).to.deep.equal([...ref.used].sort());
            }
          }
          for (const x of [ref, sut]) x.agreement.settle(false);
          expect([...sut.used].sort()).to.deep.equal([...ref.used].sort());
        },
      ),
      { numRuns: 60 },
    );
  });

  it("lists at most LISTED_DISAGREEMENTS disagreements and counts them all", function () {
    const { agreement, offer, close } = setup();
    const times = Array.from({ length: LISTED_DISAGREEMENTS + 5 }, (_, i) => 2 * i);
    offer(
      A,
      times.map((t) => d(t, "0x01", 1n)),
    );
    offer(
      B,
      times.map((t) => d(t, "0x01", 2n)),
    );
    close(A);
    close(B);
    agreement.settle(false);
    expect(agreement.stats.disagreementCount).to.equal(times.length);
    expect(agreement.disagreements).to.have.length(LISTED_DISAGREEMENTS);
  });
});
