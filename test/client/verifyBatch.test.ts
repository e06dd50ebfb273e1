// verifyBatch: every §8 check as a typed violation, never a throw (no chain needed).
import { expect } from "chai";
import fc from "fast-check";
import { Wallet, getBytes, hexlify, keccak256, toBeHex } from "ethers";
import {
  EpochMath,
  Fault,
  Permutation,
  Sharder,
  buildBatch,
  openChannel,
  openReceiverChannel,
  protocolDomain,
  signBatch,
  verifyBatch,
  BatchStateCache,
  BatchTooLargeError,
  NotProvableError,
  buildEvidence,
  LtHash16,
  type Delta,
  type EpochView,
  type SignedBatch,
  buildAccumulatedProof,
  verifyAccumulatedProof,
  EIP712_TYPES,
  KeyKind,
  handoffStreamOf,
} from "../../client/index.js";

const r = keccak256("0x42");
const n = 8;
const k = 3;
const key = new Wallet(keccak256("0x5151"));
const other = new Wallet(keccak256("0x5252"));
const addr = (i: number) => `0x${(i + 1).toString(16).padStart(40, "0")}`;
const view: EpochView = { epoch: 1n, n, k, r, indexOf: new Map(), signingKeyOf: new Map() };
for (let i = 0; i < n; ++i) view.indexOf.set(addr(i), i);
view.signingKeyOf.set(addr(0), key.address.toLowerCase());
const math = new EpochMath(view);
const perm = new Permutation(r, n);
const sharder = new Sharder(r, n);
const domain = protocolDomain(31337, "0x" + "11".repeat(20));
const shard = 2;
const me = addr(perm.holders(shard, k)[0]);
const notHolder = addr([...Array(n).keys()].find((w) => !perm.holds(w, shard, k))!);
/** An origin shard the sender (worker 0) holds, and one it does not. */
const origin0 = perm.shardsOf(0, k)[0];
const notOrigin0 = [...Array(n).keys()].find((s) => !perm.holds(0, s, k))!;

function deltas(target: number, count: number, salt: number): Delta[] {
  const out: Delta[] = [];
  for (let i = salt; out.length < count; ++i) {
    const d = getBytes(keccak256(toBeHex(i, 32)));
    if (sharder.shard(d) === target) out.push({ data: d, time: BigInt(i), diff: 1n });
  }
  return out;
}

async function batch(
  ch: ReturnType<typeof openChannel>,
  ds: Delta[],
  to = me,
  tweak: Partial<SignedBatch["header"]> = {},
): Promise<SignedBatch> {
  const [h0] = buildBatch(ch, ds, [to]);
  const h = { ...h0, ...tweak };
  return { header: h, signature: await signBatch(key, domain, h), deltas: ds };
}

const kinds = (v: ReturnType<typeof verifyBatch>) => v.violations.map((x) => x.kind);

describe("verifyBatch", function () {
  it("accepts an honest channel batch after batch, and advances it", async function () {
    const ch = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const rch = openReceiverChannel();
    for (let b = 0; b < 3; ++b) {
      const v = verifyBatch(await batch(ch, deltas(shard, 4, 100 * b)), { math, me, domain, channel: rch });
      expect(v.violations, `batch ${b}`).to.deep.equal([]);
    }
    expect(rch.last?.header.seq).to.equal(2n);
  });

  it("drops what is not provably the sender's batch for this receiver", async function () {
    const ch = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const ctx = { math, me, domain, channel: openReceiverChannel() };
    const b = await batch(ch, deltas(shard, 2, 0));
    expect(kinds(verifyBatch({ ...b, signature: await signBatch(other, domain, b.header) }, ctx))).to.deep.equal([
      "bad-signature",
    ]);
    expect(kinds(verifyBatch({ ...b, signature: "0x1234" }, ctx))).to.deep.equal(["bad-signature"]);
    const elsewhere = { ...b.header, receiver: notHolder };
    expect(
      kinds(verifyBatch({ ...b, header: elsewhere, signature: await signBatch(key, domain, elsewhere) }, ctx)),
    ).to.deep.equal(["not-for-me"]);
    expect(kinds(verifyBatch({ ...b, deltas: deltas(shard, 2, 50) }, ctx))).to.deep.equal(["not-the-batch"]);
    // The signed times must be the deltas' first and last.
    const late = { ...b.header, lastTime: BigInt(b.header.lastTime) + 1n };
    expect(
      kinds(verifyBatch({ ...b, header: late, signature: await signBatch(key, domain, late) }, ctx)),
    ).to.deep.equal(["not-the-batch"]);
    // A channel of an origin shard its sender does not hold (or past n) is no replica's: dropped.
    for (const originShard of [notOrigin0, n]) {
      const foreign = { ...b.header, originShard };
      expect(
        kinds(verifyBatch({ ...b, header: foreign, signature: await signBatch(key, domain, foreign) }, ctx)),
      ).to.deep.equal(["not-from-a-holder"]);
    }
    // Garbage never throws.
    expect(
      kinds(verifyBatch({ header: { ...b.header, deltasRoot: "0xzz" }, signature: b.signature, deltas: [] }, ctx)),
    ).to.have.length(1);
  });

  it("reports each provable fault with its fault id", async function () {
    const ctx = () => ({ math, me, domain, channel: openReceiverChannel() });
    const ch = () => openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const mixed = [...deltas(shard, 2, 0), ...deltas(shard + 1, 1, 0)];
    const mis = verifyBatch(await batch(ch(), mixed), ctx());
    expect(mis.violations.map((v) => [v.kind, v.fault, v.deltaIndex])).to.deep.equal([
      ["misrouted-delta", Fault.MISROUTED_DELTA, 2],
    ]);
    const notMine = verifyBatch(await batch(ch(), deltas(shard, 2, 0), notHolder), { ...ctx(), me: notHolder });
    expect(kinds(notMine)).to.deep.equal(["not-a-holder"]);
    const count = verifyBatch(await batch(ch(), deltas(shard, 2, 0), me, { count: 3 }), ctx());
    expect(count.violations.map((v) => [v.kind, v.fault])).to.deep.equal([["count-mismatch", Fault.BATCH_MISMATCH]]);
    const msh = verifyBatch(await batch(ch(), deltas(shard, 2, 0), me, { batchMsh: keccak256("0x99") }), ctx());
    expect(kinds(msh)).to.include("batch-msh-mismatch");
    const seq0 = verifyBatch(await batch(ch(), deltas(shard, 2, 0), me, { prev: keccak256("0x98") }), ctx());
    expect(seq0.violations.map((v) => [v.kind, v.fault])).to.deep.equal([["broken-chain", Fault.BROKEN_CHAIN]]);
  });

  it("hashes a content once across co-holders (BatchStateCache), and still catches a wrong batchMsh or cumulative", async function () {
    const states = new BatchStateCache();
    const ds = deltas(shard, 4, 7);
    // Two channels (two holders of the origin shard) carrying the same content.
    const honest = await batch(openChannel(1n, keccak256("0x01"), shard, origin0, addr(0)), ds);
    const v1 = verifyBatch(honest, { math, me, domain, channel: openReceiverChannel(), states });
    expect(v1.violations).to.deep.equal([]);
    expect(states.size).to.equal(1);
    const again = verifyBatch(honest, { math, me, domain, channel: openReceiverChannel(), states });
    expect(again.violations).to.deep.equal([]);
    expect(again.batchState!.digest()).to.equal(new LtHash16().addAll(ds).digest());
    // The same deltas under a wrong claim: the cached state is the deltas' own, so the lie shows.
    const ch = () => openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    for (const tweak of [{ batchMsh: keccak256("0x99") }, { cumulativeMsh: keccak256("0x98") }]) {
      const lie = verifyBatch(await batch(ch(), ds, me, tweak), {
        math,
        me,
        domain,
        channel: openReceiverChannel(),
        states,
      });
      expect(kinds(lie), JSON.stringify(Object.keys(tweak))).to.include(
        "batchMsh" in tweak ? "batch-msh-mismatch" : "broken-chain",
      );
    }
    // A cached state is not changed by its use (the cumulative is a copy).
    expect(states.get(String(honest.header.deltasRoot))!.digest()).to.equal(new LtHash16().addAll(ds).digest());
    // A sender that built the content first: receivers of a co-holder's copy reuse its state.
    const built = new BatchStateCache();
    const other = deltas(shard, 3, 11);
    const [h] = buildBatch(openChannel(1n, keccak256("0x01"), shard, origin0, addr(0)), other, [me], undefined, built);
    expect(built.get(String(h.deltasRoot))!.digest()).to.equal(h.batchMsh);
    // Bounded: the oldest content goes first.
    const small = new BatchStateCache(2);
    for (const root of ["0x01", "0x02", "0x03"]) small.set(root, new LtHash16());
    expect([small.size, small.get("0x01"), small.get("0x03") !== undefined]).to.deep.equal([2, undefined, true]);
  });

  it("follows the chain: a wrong cumulative, a gap, and equivocation", async function () {
    const c = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const rch = openReceiverChannel();
    const ctx = { math, me, domain, channel: rch };
    const first = await batch(c, deltas(shard, 2, 0));
    expect(verifyBatch(first, ctx).ok).to.equal(true);
    const wrong = await batch(c, deltas(shard, 2, 10), me, { cumulativeMsh: keccak256("0x97") });
    const v = verifyBatch(wrong, ctx);
    expect(v.violations.map((x) => [x.kind, x.fault])).to.deep.equal([["broken-chain", Fault.BROKEN_CHAIN]]);
    const evidence = buildEvidence(v.violations[0], wrong, { view, me, channel: rch, batchState: v.batchState! });
    expect(evidence.method).to.equal("proveBrokenChainWithDeltas"); // two deltas: the cheap form
    // A second content for seq 0.
    const c2 = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const twin = await batch(c2, deltas(shard, 3, 20));
    const eq = verifyBatch(twin, ctx);
    expect(eq.violations.map((x) => [x.kind, x.fault])).to.deep.equal([["equivocation", Fault.EQUIVOCATION]]);
    expect(
      buildEvidence(eq.violations[0], twin, { view, me, channel: rch, batchState: eq.batchState! }).method,
    ).to.equal("proveEquivocation");
    // A gap is not provable.
    const c3 = openChannel(1n, keccak256("0x02"), shard, origin0, addr(0));
    await batch(c3, deltas(shard, 1, 30));
    const gapBatch = await batch(c3, deltas(shard, 1, 40));
    const gap = verifyBatch(gapBatch, { ...ctx, channel: openReceiverChannel() });
    expect(kinds(gap)).to.deep.equal(["out-of-order"]);
    expect(() =>
      buildEvidence(gap.violations[0], gapBatch, { view, me, channel: rch, batchState: new LtHash16() }),
    ).to.throw(NotProvableError);
  });

  it("checks accumulated proofs: signer, contradiction with the header, the canonical block hash", async function () {
    const c = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const rch = openReceiverChannel();
    const b = await batch(c, deltas(shard, 2, 0));
    expect(verifyBatch(b, { math, me, domain, channel: rch }).ok).to.equal(true);
    const canonicalHash = async () => keccak256("0xb10c");
    const honest = await buildAccumulatedProof(key, domain, b.header, 1n, 100n, keccak256("0xb10c"));
    expect(
      (await verifyAccumulatedProof(honest, { view, domain, channel: rch, canonicalHash })).violations,
    ).to.deep.equal([]);
    const falseHash = await buildAccumulatedProof(key, domain, b.header, 1n, 100n, keccak256("0x0bad"));
    const v1 = await verifyAccumulatedProof(falseHash, { view, domain, channel: rch, canonicalHash });
    expect(v1.violations.map((v) => [v.fault, v.evidence?.method])).to.deep.equal([
      [Fault.INVALID_ACCUMULATED_PROOF, "proveFalseBlockHash"],
    ]);
    const contradicting = await buildAccumulatedProof(
      key,
      domain,
      { ...b.header, cumulativeMsh: keccak256("0x01") },
      1n,
      100n,
      keccak256("0xb10c"),
    );
    const v2 = await verifyAccumulatedProof(contradicting, { view, domain, channel: rch, canonicalHash });
    expect(v2.violations.map((v) => v.evidence?.method)).to.deep.equal(["proveContradictedProof"]);
    // Unknown block: nothing judged; another signer: dropped.
    const unknown = await verifyAccumulatedProof(falseHash, {
      view,
      domain,
      channel: rch,
      canonicalHash: async () => undefined,
    });
    expect(unknown.ok).to.equal(true);
    const forged = {
      ...honest,
      signature: await other.signTypedData(
        domain,
        { AccumulatedProof: [...EIP712_TYPES.AccumulatedProof] },
        honest.proof,
      ),
    };
    expect((await verifyAccumulatedProof(forged, { view, domain })).violations.map((v) => v.kind)).to.deep.equal([
      "bad-signature",
    ]);
  });

  it("signs a header as ethers' typed-data signer does, whatever its fields (a local key signs the digest computed here)", async function () {
    const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b));
    const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => hexlify(b));
    const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    const u32 = fc.nat({ max: 2 ** 32 - 1 });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          epoch: u64,
          stream: bytes32,
          shard: u32,
          originShard: u32,
          sender: address,
          receiver: address,
          seq: u64,
          prev: bytes32,
          deltasRoot: bytes32,
          count: u32,
          batchMsh: bytes32,
          cumulativeMsh: bytes32,
          inputMsh: bytes32,
          firstTime: u64,
          lastTime: u64,
        }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        async (h, chainId) => {
          const d = protocolDomain(chainId, "0x" + "ab".repeat(20));
          const viaEthers = await key.signTypedData(d, { BatchHeader: [...EIP712_TYPES.BatchHeader] }, h);
          expect(await signBatch(key, d, h)).to.equal(viaEthers);
          // And a signer that is not a local key gets the typed data.
          expect(await signBatch({ signTypedData: (...a) => key.signTypedData(...a) }, d, h)).to.equal(viaEthers);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("builds no batch above MAX_BATCH", function () {
    const c = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    expect(() => buildBatch(c, new Array(257).fill({ data: "0x01", time: 1n, diff: 1n }), [me])).to.throw(
      BatchTooLargeError,
    );
  });

  it("drops a batch on a stream the epoch's graph does not have: not for me, no fault", async function () {
    const c = openChannel(1n, keccak256("0x01"), shard, origin0, addr(0));
    const rch = openReceiverChannel();
    const partitions = new Map([[keccak256("0x02"), { kind: KeyKind.WHOLE, offset: 0, length: 0 }]]);
    const v = verifyBatch(await batch(c, deltas(shard, 2, 0)), { math, me, domain, partitions, channel: rch });
    expect(v.violations.map((x) => [x.kind, x.fault])).to.deep.equal([["not-for-me", undefined]]);
    expect(rch.seen.size).to.equal(0);
  });

  it("takes a state handoff from a holder of its origin shard in the previous epoch, not in this one", async function () {
    // The previous epoch: other randomness, the same members.
    const r0 = keccak256("0x41");
    const before: EpochView = { ...view, epoch: 0n, r: r0 };
    const previous = new EpochMath(before);
    const perm0 = new Permutation(r0, n);
    const held = [...Array(n).keys()].find((s) => perm0.holds(0, s, k) && !perm.holds(0, s, k))!;
    const notHeld = [...Array(n).keys()].find((s) => !perm0.holds(0, s, k) && perm.holds(0, s, k))!;
    const stream = handoffStreamOf(keccak256("0x01"));
    const handoff = { streams: new Set([stream]), previous };
    const ok = verifyBatch(await batch(openChannel(1n, stream, shard, held, addr(0)), deltas(shard, 3, 7)), {
      math,
      me,
      domain,
      channel: openReceiverChannel(),
      handoff,
    });
    expect(ok.violations).to.deep.equal([]);
    // Not a holder of the origin shard then (though it is now): refused.
    const notThen = verifyBatch(await batch(openChannel(1n, stream, shard, notHeld, addr(0)), deltas(shard, 3, 7)), {
      math,
      me,
      domain,
      channel: openReceiverChannel(),
      handoff,
    });
    expect(kinds(notThen)).to.deep.equal(["not-from-a-holder"]);
    expect(notThen.violations[0].message).to.match(
      /of epoch 0\) does not hold origin shard \d+ of the epoch whose state it hands off/,
    );
    // The same batch read as an ordinary one: worker 0 does not hold that origin shard now.
    const ordinary = verifyBatch(await batch(openChannel(1n, stream, shard, held, addr(0)), deltas(shard, 3, 7)), {
      math,
      me,
      domain,
      channel: openReceiverChannel(),
    });
    expect(kinds(ordinary)).to.deep.equal(["not-from-a-holder"]);
    // A sender that was no member of the previous epoch.
    const smaller: EpochView = { ...before, indexOf: new Map([...before.indexOf].filter(([w]) => w !== addr(0))) };
    const stranger = verifyBatch(await batch(openChannel(1n, stream, shard, held, addr(0)), deltas(shard, 3, 7)), {
      math,
      me,
      domain,
      channel: openReceiverChannel(),
      handoff: { streams: handoff.streams, previous: new EpochMath(smaller) },
    });
    expect(kinds(stranger)).to.deep.equal(["not-from-a-holder"]);
  });
});
