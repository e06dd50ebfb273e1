// The exchange layer end to end without a network: the outbox's batching rule and protection
// record make a restarted sender replay byte-identical messages (and refuse, sending nothing
// more, when it would sign another content at a recorded position); the inbox uses each batch
// once, holds out-of-order batches within bounds, accepts only properly signed end notices, and
// treats a stream the epoch does not have as not for it.
import { prng } from "../utils/prng.js";
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, concat, getBytes, hexlify, keccak256, toBeHex, toUtf8Bytes } from "ethers";
import { pino } from "pino";
import {
  KeyKind,
  MAX_BATCH,
  Permutation,
  Sharder,
  buildBatch,
  contentHash,
  hashAccumulatedProof,
  openChannel,
  protocolDomain,
  signBatch,
  type Assignment,
  type BatchHeader,
  type Delta,
  type EpochView,
  type PartitionSpec,
  type SignedBatch,
} from "../../client/index.js";
import type { SignedAccumulatedProof } from "../../client/batches/verifyAccumulatedProof.js";
import { Outbox } from "../../worker/exchange/outbox.js";
import { Inbox, STASH_LIMITS } from "../../worker/exchange/inbox.js";
import { protectedSigner, type ExchangeSigner } from "../../worker/exchange/signer.js";
import { signDone } from "../../worker/exchange/notices.js";
import { ProtectionRecord } from "../../worker/protection/record.js";
import { decodeMessage, encodeMessage, type EpochDone, type Message } from "../../worker/transport/codec.js";

const log = pino({ level: "silent" });
const EPOCH = 3n;
const n = 4;
const k = 2;
const r = keccak256(toUtf8Bytes("exchange.test r"));
const CHAIN = 31337n;
const LAST_BLOCK = 1234n;
const BLOCK_HASH = keccak256(toUtf8Bytes("block 1234"));
const VERIFYING = "0x" + "11".repeat(20);
const domain = protocolDomain(CHAIN, VERIFYING);
const STREAM = keccak256(toUtf8Bytes("stream")).toLowerCase();
const WHOLE: PartitionSpec = { kind: KeyKind.WHOLE, offset: 0, length: 0 };
const partitions = new Map([[STREAM, WHOLE]]);

const workers = [0, 1, 2, 3].map((i) => new Wallet(keccak256(toBeHex(0x1000 + i, 32))));
const keys = [0, 1, 2, 3].map((i) => new Wallet(keccak256(toBeHex(0x2000 + i, 32))));
const members = workers.map((w) => w.address.toLowerCase());
const view: EpochView = { epoch: EPOCH, n, k, r, indexOf: new Map(), signingKeyOf: new Map() };
members.forEach((m, i) => {
  view.indexOf.set(m, i);
  view.signingKeyOf.set(m, keys[i].address.toLowerCase());
});
const perm = new Permutation(r, n);
const sharder = new Sharder(r, n);
const holders = (shard: number) => perm.holders(shard, k).map((i) => members[i]);
const assignment = (i: number): Assignment => ({
  view,
  index: i,
  shards: perm.shardsOf(i, k),
  holders: (shard) => perm.holders(shard, k),
  shardOf: (key) => sharder.shard(key),
  members,
});
/** Shards member 1 holds, and one of them member 0 does not (so its batches travel). */
const shardsOf1 = perm.shardsOf(1, k);
const remoteTo1 = shardsOf1.find((s) => !perm.holds(0, s, k)) ?? shardsOf1[0];
const otherShard = [0, 1, 2, 3].find((s) => s !== remoteTo1)!;
/** The source shard every item comes from: one member 0 holds (so its channels are a replica's). */
const ORIGIN = perm.shardsOf(0, k)[0];
/** A stand-in input commitment per time (the engine computes the real one). */
const inputDigest = (origin: number, time: bigint) => keccak256(toUtf8Bytes(`inputs of ${origin} to ${time}`));

type Item = { shard: number; delta: Delta };

/** Data of `len` bytes (unique by salt) that falls in `shard`. */
function dataIn(shard: number, len: number, salt: { next: number }): string {
  for (;;) {
    const seed = toBeHex(salt.next++, 32);
    const words = [];
    for (let i = 0; i * 32 < len; ++i) words.push(keccak256(concat([seed, toBeHex(i, 4)])));
    const bytes = getBytes(concat(words)).subarray(0, len);
    if (sharder.shard(bytes) === shard) return hexlify(bytes);
  }
}

/**
 * A deterministic stream: times increase, mostly a few deltas per time over random shards, and
 * two times with more than MAX_BATCH deltas in one shard (the group is cut into pieces).
 */
function makeItems(): Item[] {
  const rnd = prng(0x5eed);
  const salt = { next: 1 };
  const out: Item[] = [];
  let time = 100n;
  for (let step = 0; out.length < 640; ++step) {
    time += BigInt(1 + Math.floor(rnd() * 3));
    const big = step === 20 ? remoteTo1 : step === 45 ? otherShard : undefined;
    const count = big !== undefined ? (big === remoteTo1 ? 300 : 270) : 1 + Math.floor(rnd() * 6);
    for (let i = 0; i < count; ++i) {
      const shard = big ?? Math.floor(rnd() * n);
      const diff = BigInt(1 + Math.floor(rnd() * 3)) * (rnd() < 0.3 ? -1n : 1n);
      out.push({ shard, delta: { data: dataIn(shard, 1 + Math.floor(rnd() * 90), salt), time, diff } });
    }
  }
  return out;
}

type Sent = { to: string; kind: Message["kind"]; hex: string };
type Run = { sent: Sent[]; local: string[]; outbox: Outbox };

/** Member 0's record in `dir`, as its worker opens it. */
const openRecord0 = (dir: string) =>
  ProtectionRecord.open(dir, { signingKey: keys[0].address, chainId: Number(CHAIN), verifyingContract: VERIFYING });

/** Member 0's outbox over `record`: every message and every local batch goes to the callbacks. */
const outbox0 = (
  record: ProtectionRecord,
  send: (to: string, m: Message) => void,
  local: (h: BatchHeader, deltas: Delta[]) => void = () => undefined,
  secondStage?: ReadonlySet<string>,
) =>
  new Outbox({
    secondStage,
    epoch: EPOCH,
    me: members[0],
    signer: protectedSigner(keys[0], domain, record),
    holders,
    members,
    live: () => true,
    send,
    shardOf: (_stream, data) => sharder.shardOfDelta(WHOLE, data),
    inputDigest: (_stream: string, origin: number, time: bigint) => inputDigest(origin, time),
    local,
    log,
  });

/**
 * One life of member 0's outbox over `items`: chunks of random sizes (each cut into runs of one
 * shard, in stream order), flushes at random points (some not awaited), then the window's end.
 */
async function runOutbox(dir: string, items: Item[], seed: number, check?: (r: ProtectionRecord) => void) {
  const record = openRecord0(dir);
  try {
    const sent: Sent[] = [];
    const local: string[] = [];
    const outbox = outbox0(
      record,
      (to, m) => sent.push({ to, kind: m.kind, hex: hexlify(encodeMessage(m)) }),
      (h, deltas) => local.push(`${h.receiver}|${h.shard}|${h.seq}|${contentHash(h)}|${deltas.length}`),
    );
    const rnd = prng(seed);
    for (let i = 0; i < items.length;) {
      const size = rnd() < 0.1 ? 100 + Math.floor(rnd() * 300) : 1 + Math.floor(rnd() * 20);
      const chunk = items.slice(i, i + size);
      i += size;
      for (let j = 0; j < chunk.length;) {
        let e = j;
        while (e < chunk.length && chunk[e].shard === chunk[j].shard) ++e;
        outbox.add(
          STREAM,
          ORIGIN,
          chunk[j].shard,
          chunk.slice(j, e).map((x) => x.delta),
        );
        j = e;
      }
      const f = rnd();
      if (f < 0.2) await outbox.flush();
      else if (f < 0.35) void outbox.flush();
    }
    await outbox.finish(CHAIN, LAST_BLOCK, BLOCK_HASH);
    check?.(record);
    return { sent, local, outbox } satisfies Run;
  } finally {
    record.close();
  }
}

const decode = (s: Sent) => decodeMessage(getBytes(s.hex));
const batchOf = (s: Sent) => (decode(s) as Extract<Message, { kind: "batch" }>).batch;
const byReceiver = (sent: Sent[]) => {
  const out: Record<string, string[]> = {};
  for (const s of sent) (out[s.to] ??= []).push(s.hex);
  return out;
};

function inboxFor(i: number, secondStage?: ReadonlySet<string>) {
  const accepted: Array<{ sender: string; header: BatchHeader; deltas: Delta[] }> = [];
  const evidence: unknown[] = [];
  const inbox = new Inbox({
    epoch: EPOCH,
    me: members[i],
    a: assignment(i),
    domain,
    partitions: secondStage
      ? new Map([...partitions, ...[...secondStage].map((y) => [y, WHOLE] as const)])
      : partitions,
    secondStage,
    checks: true,
    sourceChainId: CHAIN,
    live: () => true,
    accept: (sender, header, deltas) => accepted.push({ sender, header, deltas }),
    evidence: (worker, e) => evidence.push({ worker, e }),
    log,
  });
  return { inbox, accepted, evidence };
}

const notice = async (signer: number, d: Omit<EpochDone, "signature">): Promise<EpochDone> => ({
  ...d,
  signature: await signDone(keys[signer], domain, d),
});
const emptyNotice = (from: number, to: number) =>
  notice(from, {
    epoch: EPOCH,
    sender: members[from],
    receiver: members[to],
    lastBlock: LAST_BLOCK,
    stage: 1,
    channels: [],
  });

/** Signed batches of one channel from member 0 to member `to`, one delta each. */
async function channelBatches(stream: string, shard: number, to: number, count: number, salt: number) {
  const ch = openChannel(EPOCH, stream, shard, ORIGIN, members[0]);
  const s = { next: salt };
  const out: SignedBatch[] = [];
  for (let i = 0; i < count; ++i) {
    const deltas = [{ data: dataIn(shard, 8, s), time: BigInt(i), diff: 1n }];
    const [header] = buildBatch(ch, deltas, [members[to]]);
    out.push({ header, signature: await signBatch(keys[0], domain, header), deltas });
  }
  return out;
}

/** A stream of a second exchange (the tests of stage-2 notices). */
const Y = keccak256(toUtf8Bytes("second-stage stream")).toLowerCase();

/** Member 0's outbox with `Y` as a second-exchange stream, over a fresh record; what it sends, decoded, in `sent`. */
async function withSecondStage(f: (outbox: Outbox, sent: Array<{ to: string; m: Message }>) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "maru-exchange-stage2-"));
  const record = openRecord0(dir);
  try {
    const sent: Array<{ to: string; m: Message }> = [];
    const outbox = outbox0(
      record,
      (to, m) => sent.push({ to, m: decodeMessage(encodeMessage(m)) }),
      undefined,
      new Set([Y]),
    );
    await f(outbox, sent);
  } finally {
    record.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("exchange: outbox and inbox", function () {
  const items = makeItems();
  let dir: string;
  let run1: Run;
  let recordAfterRun1: Buffer;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "maru-exchange-"));
    run1 = await runOutbox(dir, items, 1);
    recordAfterRun1 = readFileSync(join(dir, `${keys[0].address.toLowerCase()}.jsonl`));
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("replays byte-identical headers and signatures after a restart, and refuses another content", async function () {
    // Run 1 exercised what it should: pieces of a group larger than MAX_BATCH, every kind of message.
    expect(run1.outbox.refused).to.equal(undefined);
    const batches1 = run1.sent.filter((s) => s.kind === "batch");
    expect(batches1.length).to.be.greaterThan(10);
    expect(batches1.some((s) => batchOf(s).header.count === MAX_BATCH)).to.equal(true);
    expect(run1.sent.filter((s) => s.kind === "proof").length).to.be.greaterThan(0);
    expect(run1.sent.filter((s) => s.kind === "done")).to.have.length(n - 1);
    expect(run1.local.length).to.be.greaterThan(0);
    // Every delta went out exactly once per holder (locally or on the wire).
    const carried = batches1.reduce((s, b) => s + batchOf(b).deltas.length, 0);
    const expected = items.reduce((s, it) => s + holders(it.shard).filter((h) => h !== members[0]).length, 0);
    expect(carried).to.equal(expected);

    // Run 2: a restart, another chunking and flush schedule, the same stream.
    const file = join(dir, `${keys[0].address.toLowerCase()}.jsonl`);
    const run2 = await runOutbox(dir, items, 2, (record) => {
      for (const s of run1.sent) {
        const m = decode(s);
        if (m.kind === "batch") {
          const h = m.batch.header;
          const at = { epoch: h.epoch, stream: h.stream, shard: h.shard, originShard: h.originShard, seq: h.seq };
          expect(record.check({ kind: "header", ...at, contentHash: contentHash(h) })).to.equal("same");
        } else if (m.kind === "proof") {
          const p = m.proof.proof;
          const at = { epoch: p.epoch, stream: p.stream, shard: p.shard, originShard: p.originShard, seq: p.seq };
          expect(record.check({ kind: "proof", ...at, contentHash: hashAccumulatedProof(p) })).to.equal("same");
        }
      }
    });
    expect(run2.outbox.refused).to.equal(undefined);
    expect(run2.sent.map((s) => s.hex)).to.deep.equal(run1.sent.map((s) => s.hex));
    expect(byReceiver(run2.sent)).to.deep.equal(byReceiver(run1.sent));
    expect(run2.local).to.deep.equal(run1.local);
    expect(readFileSync(file).equals(recordAfterRun1), "the restart recorded nothing new").to.equal(true);

    // Run 3: one delta in the middle has another diff.
    const middle = items.findIndex((it, i) => i >= items.length / 2 && it.shard === remoteTo1);
    const changed = items.map((it, i) =>
      i === middle ? { ...it, delta: { ...it.delta, diff: BigInt(it.delta.diff) + 10n } } : it,
    );
    const target = items[middle].delta;
    const hit = batches1
      .map(batchOf)
      .find((b) => b.deltas.some((d) => d.data === target.data && BigInt(d.time) === BigInt(target.time)))!;
    const seq = hit.header.seq;
    const run3 = await runOutbox(dir, changed, 3);
    expect(run3.outbox.refused).to.match(
      new RegExp(
        `^Refusing to sign the header at epoch ${EPOCH}, stream ${STREAM}, shard ${remoteTo1}, origin shard ${ORIGIN}, seq ${seq}:`,
      ),
    );
    // What went out is what run 1 sent at the same positions: a prefix, batches only.
    expect(run3.sent.map((s) => s.hex)).to.deep.equal(run1.sent.slice(0, run3.sent.length).map((s) => s.hex));
    expect(run3.sent.every((s) => s.kind === "batch")).to.equal(true);
    expect(run3.sent.length).to.be.lessThan(batches1.length);
    for (const s of run3.sent) {
      const h = batchOf(s).header;
      expect(h.shard === remoteTo1 && h.seq >= seq, `seq ${h.seq} of shard ${h.shard}`).to.equal(false);
    }
    expect(run3.local).to.deep.equal(run1.local.slice(0, run3.local.length));
    for (const l of run3.local) {
      const [, shard, s] = l.split("|");
      expect(Number(shard) === remoteTo1 && BigInt(s) >= seq).to.equal(false);
    }
  });

  it("uses each batch once: replays are duplicates and the channel does not rewind", async function () {
    const to1 = run1.sent.filter((s) => s.to === members[1]);
    const batches = to1.filter((s) => s.kind === "batch").map(batchOf);
    const { inbox, accepted, evidence } = inboxFor(1);
    for (const b of batches) inbox.onBatch(b);
    expect(accepted.map((a) => `${a.header.shard}|${a.header.seq}`)).to.deep.equal(
      batches.map((b) => `${b.header.shard}|${b.header.seq}`),
    );
    expect(accepted.every((a) => a.sender === members[0])).to.equal(true);
    const progress = inbox.missing();
    for (const b of batches) inbox.onBatch(b);
    const zeros = batches.filter((b) => b.header.seq === 0n);
    expect(zeros.length).to.be.greaterThan(0);
    for (const b of zeros) inbox.onBatch(b);
    expect(accepted).to.have.length(batches.length);
    expect(inbox.stats.duplicates).to.equal(batches.length + zeros.length);
    expect(inbox.stats.rejectedBatches).to.equal(0);
    expect(inbox.stats.violations).to.deep.equal({});
    expect(evidence).to.deep.equal([]);
    expect(inbox.missing(), "where each channel stands").to.deep.equal(progress);

    // The proofs hold, and the end notices complete the epoch.
    for (const s of to1.filter((x) => x.kind === "proof"))
      inbox.onProof((decode(s) as { proof: SignedAccumulatedProof }).proof);
    await inbox.judgeProofs(Number(LAST_BLOCK), Number(LAST_BLOCK), async () => BLOCK_HASH, false);
    expect(inbox.stats.proofsChecked).to.equal(to1.filter((x) => x.kind === "proof").length);
    expect(inbox.stats.proofsRefused).to.equal(0);
    expect(evidence).to.deep.equal([]);
    const done = to1.find((s) => s.kind === "done")!;
    expect(inbox.onDone((decode(done) as { done: EpochDone }).done)).to.equal(true);
    expect(inbox.onDone(await emptyNotice(2, 1))).to.equal(true);
    expect(inbox.onDone(await emptyNotice(3, 1))).to.equal(true);
    expect(inbox.complete()).to.equal(true);
  });

  it("accepts only end notices signed by the sender for this receiver", async function () {
    const to1 = run1.sent.filter((s) => s.to === members[1]);
    const batches = to1.filter((s) => s.kind === "batch").map(batchOf);
    const honest = (decode(to1.find((s) => s.kind === "done")!) as { done: EpochDone }).done;
    // The outbox's notice counts what it sent on each channel, signed with signDone.
    for (const c of honest.channels)
      expect(c.batches).to.equal(BigInt(batches.filter((b) => b.header.shard === c.shard).length));
    const { signature: _s, ...body } = honest;
    expect((await notice(0, body)).signature).to.equal(honest.signature);

    const { inbox } = inboxFor(1);
    expect(inbox.onDone(await emptyNotice(2, 1))).to.equal(true);
    expect(inbox.onDone(await emptyNotice(3, 1))).to.equal(true);
    // Member 0's notice, signed by member 2's key.
    expect(inbox.onDone(await notice(2, body))).to.equal(false);
    expect(inbox.stats.forgedNotices).to.equal(1);
    expect(inbox.complete()).to.equal(false);
    // Signed by member 0, for member 2; and the same signature presented as one for member 1.
    const for2 = await notice(0, { ...body, receiver: members[2] });
    expect(inbox.onDone(for2)).to.equal(false);
    expect(inbox.onDone({ ...for2, receiver: members[1] })).to.equal(false);
    // Another epoch.
    expect(inbox.onDone(await notice(0, { ...body, epoch: EPOCH + 1n }))).to.equal(false);
    expect(inbox.stats.forgedNotices).to.equal(4);
    expect(inbox.done.has(members[0])).to.equal(false);
    expect(inbox.complete()).to.equal(false);

    // The honest notice before its batches: the wait goes on, and says from where to ask again.
    const half = Math.floor(batches.length / 2);
    for (const b of batches.slice(0, half)) inbox.onBatch(b);
    expect(inbox.onDone(honest)).to.equal(true);
    expect(inbox.complete()).to.equal(false);
    const got = (shard: number) => BigInt(batches.slice(0, half).filter((b) => b.header.shard === shard).length);
    expect(inbox.missing()).to.deep.equal([
      {
        member: members[0],
        noticed: true,
        channels: honest.channels.map((c) => ({
          stream: c.stream,
          shard: c.shard,
          originShard: c.originShard,
          fromSeq: got(c.shard),
        })),
      },
    ]);
    for (const b of batches.slice(half)) inbox.onBatch(b);
    expect(inbox.missing()).to.deep.equal([]);
    expect(inbox.complete()).to.equal(true);
  });

  it("holds out-of-order batches until the gap fills, a replay of a held batch included", async function () {
    const bs = await channelBatches(STREAM, remoteTo1, 1, 4, 1_000_000);
    const { inbox, accepted, evidence } = inboxFor(1);
    inbox.onBatch(bs[2]);
    inbox.onBatch(bs[1]);
    inbox.onBatch(bs[2]); // sent again while held
    inbox.onBatch(bs[3]);
    expect(accepted).to.deep.equal([]);
    inbox.onBatch(bs[0]);
    expect(accepted.map((a) => a.header.seq)).to.deep.equal([0n, 1n, 2n, 3n]);
    inbox.onBatch(bs[2]);
    expect(accepted).to.have.length(4);
    expect(inbox.stats.rejectedBatches).to.equal(0);
    expect(evidence).to.deep.equal([]);
  });

  it("bounds the batches it holds per channel; dropped ones are used once resent", async function () {
    this.timeout(300_000);
    const limit = STASH_LIMITS.perChannel;
    const bs = await channelBatches(STREAM, remoteTo1, 1, limit + 3, 2_000_000);
    const { inbox, accepted, evidence } = inboxFor(1);
    for (const b of bs.slice(1)) inbox.onBatch(b);
    expect(accepted).to.deep.equal([]);
    expect(inbox.stats.stashDropped).to.equal(2);
    // Sent again before the gap fills: a dropped one is dropped again, a held one stays held.
    inbox.onBatch(bs[limit + 1]);
    inbox.onBatch(bs[5]);
    expect(accepted).to.deep.equal([]);
    expect(inbox.stats.stashDropped).to.equal(3);
    inbox.onBatch(bs[0]);
    expect(accepted).to.have.length(limit + 1);
    for (const b of bs.slice(limit + 1)) inbox.onBatch(b);
    expect(accepted.map((a) => a.header.seq)).to.deep.equal(bs.map((b) => b.header.seq));
    expect(inbox.stats.rejectedBatches).to.equal(0);
    expect(evidence).to.deep.equal([]);
  });

  it("drops a batch on a stream the epoch does not have as not for it, without evidence", async function () {
    const unknown = keccak256(toUtf8Bytes("no such stream")).toLowerCase();
    const [b] = await channelBatches(unknown, remoteTo1, 1, 1, 3_000_000);
    const { inbox, accepted, evidence } = inboxFor(1);
    inbox.onBatch(b);
    expect(accepted).to.deep.equal([]);
    expect(evidence).to.deep.equal([]);
    expect(inbox.stats.violations).to.deep.equal({ "not-for-me": 1 });
    expect(inbox.stats.rejectedBatches).to.equal(0);
    expect(inbox.missing().flatMap((m) => m.channels)).to.deep.equal([]);
  });

  it("keeps one channel per origin shard: its own seqs, record positions, end-notice counts and resends", async function () {
    const [o1, o2] = perm.shardsOf(0, k);
    const dir = mkdtempSync(join(tmpdir(), "maru-exchange-origins-"));
    const record = openRecord0(dir);
    try {
      const sent: Array<{ to: string; m: Message }> = [];
      const outbox = outbox0(record, (to, m) => sent.push({ to, m: decodeMessage(encodeMessage(m)) }));
      const salt = { next: 4_000_000 };
      const at = (time: number) => ({ data: dataIn(remoteTo1, 8, salt), time: BigInt(time), diff: 1n });
      outbox.add(STREAM, o1, remoteTo1, [at(1), at(3)]);
      outbox.add(STREAM, o2, remoteTo1, [at(2), at(4)]);
      await outbox.finish(CHAIN, LAST_BLOCK, BLOCK_HASH);
      const to1 = sent.filter((x) => x.to === members[1]).map((x) => x.m);
      const batches = to1.filter((m) => m.kind === "batch").map((m) => m.batch);
      expect(batches.map((b) => [b.header.originShard, b.header.seq])).to.deep.equal([
        [o1, 0n],
        [o2, 0n],
      ]);
      // Each header signs its origin's input commitment at its last time.
      for (const b of batches)
        expect(b.header.inputMsh).to.equal(inputDigest(b.header.originShard, BigInt(b.header.lastTime)));
      const done = to1.find((m) => m.kind === "done")!.done;
      expect(done.channels.map((c) => [c.originShard, c.batches])).to.deep.equal([
        [o1, 1n],
        [o2, 1n],
      ]);
      // Two positions in the record, one per origin, both at seq 0.
      for (const b of batches)
        expect(
          record.check({
            kind: "header",
            epoch: EPOCH,
            stream: STREAM,
            shard: remoteTo1,
            originShard: b.header.originShard,
            seq: 0n,
            contentHash: contentHash(b.header),
          }),
        ).to.equal("same");
      // The receiver: one channel each; closed only once its own batches are in.
      const { inbox, accepted } = inboxFor(1);
      expect(inbox.onDone(done)).to.equal(true);
      inbox.onBatch(batches[0]);
      expect(inbox.closed(members[0], STREAM, o1, remoteTo1)).to.equal(true);
      expect(inbox.closed(members[0], STREAM, o2, remoteTo1)).to.equal(false);
      // The resend request the receiver makes (from what is missing) brings that channel's batch only.
      const missing = inbox.missing().find((m) => m.member === members[0])!;
      expect(missing.channels.map((c) => [c.originShard, c.fromSeq])).to.deep.equal([
        [o1, 1n],
        [o2, 0n],
      ]);
      sent.length = 0;
      await outbox.resend({ epoch: EPOCH, sender: members[1], channels: missing.channels }, members[1]);
      const resent = sent
        .filter((x) => x.m.kind === "batch")
        .map((x) => (x.m as Extract<Message, { kind: "batch" }>).batch);
      expect(resent.map((b) => b.header.originShard)).to.deep.equal([o2]);
      inbox.onBatch(resent[0]);
      expect(inbox.closed(members[0], STREAM, o2, remoteTo1)).to.equal(true);
      expect(inbox.complete()).to.equal(false); // members 2 and 3 have sent no notice
      expect(accepted.map((a) => a.header.originShard)).to.deep.equal([o1, o2]);
    } finally {
      record.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names no stopped channel of a second exchange in its notice: what it carried is not all of it", async function () {
    const [o1, o2] = perm.shardsOf(0, k);
    await withSecondStage(async (outbox, sent) => {
      await outbox.finish(CHAIN, LAST_BLOCK, BLOCK_HASH);
      const salt = { next: 6_000_000 };
      const t = (origin: number, rank: number) => (1n << 63n) | (BigInt(origin) << 40n) | BigInt(rank);
      // A full batch of origin o1 goes out, then its operator stops; origin o2's runs to the end.
      outbox.add(
        Y,
        o1,
        remoteTo1,
        Array.from({ length: MAX_BATCH + 3 }, (_, i) => ({
          data: dataIn(remoteTo1, 8, salt),
          time: t(o1, i),
          diff: 1n,
        })),
      );
      await outbox.flush();
      outbox.stopLanes(Y, o1);
      outbox.add(Y, o2, remoteTo1, [{ data: dataIn(remoteTo1, 8, salt), time: t(o2, 0), diff: 1n }]);
      for (let s = 0; s < n; ++s) outbox.declare(Y, o2, s);
      await outbox.finish(CHAIN, LAST_BLOCK, BLOCK_HASH, 2);
      const notice = sent
        .filter((x) => x.to === members[1] && x.m.kind === "done")
        .map((x) => (x.m as Extract<Message, { kind: "done" }>).done);
      expect(notice.map((d) => d.stage)).to.deep.equal([1, 2]);
      expect(sent.some((x) => x.m.kind === "batch" && Number(x.m.batch.header.originShard) === o1)).to.equal(true);
      expect(notice[1].channels.filter((c) => c.originShard === o1)).to.deep.equal([]);
      expect(notice[1].channels.some((c) => c.originShard === o2 && c.shard === remoteTo1)).to.equal(true);
    });
  });

  it("ends a second exchange with a notice of its own, which closes only that exchange's channels", async function () {
    const stage2 = new Set([Y]);
    await withSecondStage(async (outbox, sent) => {
      const salt = { next: 5_000_000 };
      const at = (time: bigint) => ({ data: dataIn(remoteTo1, 8, salt), time, diff: 1n });
      outbox.add(STREAM, ORIGIN, remoteTo1, [at(1n), at(2n)]);
      await outbox.finish(CHAIN, LAST_BLOCK, BLOCK_HASH);
      // The second stage: a time names the origin shard and a rank; every channel of it is named.
      const t = (rank: number) => (1n << 63n) | (BigInt(ORIGIN) << 40n) | BigInt(rank);
      outbox.add(Y, ORIGIN, remoteTo1, [at(t(0)), at(t(1))]);
      for (let s = 0; s < n; ++s) outbox.declare(Y, ORIGIN, s);
      await outbox.finish(CHAIN, LAST_BLOCK, BLOCK_HASH, 2);
      const to1 = sent.filter((x) => x.to === members[1]).map((x) => x.m);
      const notices = to1.filter((m) => m.kind === "done").map((m) => m.done);
      // The second notice names every channel of the receiver's shards, even with no batch on it.
      expect(notices.map((d) => [d.stage, [...new Set(d.channels.map((c) => c.stream))]])).to.deep.equal([
        [1, [STREAM]],
        [2, [Y]],
      ]);
      expect(notices[1].channels.map((c) => c.shard).sort()).to.deep.equal([...shardsOf1].sort());
      const batches = to1.filter((m) => m.kind === "batch").map((m) => m.batch);
      const [first, second] = [STREAM, Y].map((x) =>
        batches.filter((b) => String(b.header.stream).toLowerCase() === x),
      );
      // The receiver: the first exchange is complete without anyone's second notice, and the
      // second is not complete until it has every member's.
      const { inbox } = inboxFor(1, stage2);
      for (const m of [2, 3]) expect(inbox.onDone(await emptyNotice(m, 1))).to.equal(true);
      expect(inbox.onDone(notices[0])).to.equal(true);
      for (const b of first) inbox.onBatch(b);
      expect(inbox.complete(1)).to.equal(true);
      expect(inbox.complete(2)).to.equal(false);
      expect(inbox.declared(members[0], Y, ORIGIN, remoteTo1)).to.equal(false);
      expect(inbox.onDone(notices[1])).to.equal(true);
      // A second notice names its channels without unnaming the first's.
      expect(inbox.declared(members[0], Y, ORIGIN, remoteTo1)).to.equal(true);
      expect(inbox.closed(members[0], STREAM, ORIGIN, remoteTo1)).to.equal(true);
      expect(inbox.closed(members[0], Y, ORIGIN, remoteTo1)).to.equal(false);
      expect(inbox.missing(2).map((m) => [m.member, m.noticed])).to.deep.equal([
        [members[0], true],
        [members[2], false],
        [members[3], false],
      ]);
      for (const b of second) inbox.onBatch(b);
      expect(inbox.closed(members[0], Y, ORIGIN, remoteTo1)).to.equal(true);
      for (const m of [2, 3])
        expect(inbox.onDone(await notice(m, { ...(await emptyNotice(m, 1)), stage: 2 }))).to.equal(true);
      expect(inbox.complete(2)).to.equal(true);
      // A stage-1 notice presented as a stage-2 one does not verify (the stage is signed).
      expect(inbox.onDone({ ...notices[0], stage: 2 })).to.equal(false);
      // A resend after both ends brings both notices, and only what is asked for.
      sent.length = 0;
      await outbox.resend({ epoch: EPOCH, sender: members[1], channels: inbox.positions(members[0]) }, members[1]);
      expect(sent.filter((x) => x.m.kind === "batch")).to.deep.equal([]);
      expect(
        sent.filter((x) => x.m.kind === "done").map((x) => (x.m as Extract<Message, { kind: "done" }>).done.stage),
      ).to.deep.equal([1, 2]);
    });
  });
});

describe("worker: an operator that stops mid-group", function () {
  it("sends nothing more on its output's lanes, of one origin or, after the exchange, of every origin", async function () {
    const run = async (stop: (o: Outbox) => void) => {
      const sent: Message[] = [];
      const signer = {
        address: keys[0].address,
        signBatches: (batches: Array<{ headers: BatchHeader[] }>) =>
          Promise.all(batches.map((b) => Promise.all(b.headers.map(() => "0x" + "11".repeat(65))))),
        signProof: () => Promise.reject(new Error("no proof")),
        signDone: () => Promise.resolve("0x"),
      } as unknown as ExchangeSigner;
      const outbox = new Outbox({
        epoch: EPOCH,
        me: members[0],
        signer,
        holders: () => [members[1]],
        members,
        live: () => true,
        send: (_to, m) => sent.push(m),
        shardOf: () => 0,
        inputDigest: () => keccak256("0x01"),
        local: () => undefined,
        log,
      });
      // Two origins, each with a group still open (it may yet grow): the stop drops it.
      outbox.add(STREAM, 0, 0, [{ data: "0x01", time: 5n, diff: 1n }]);
      outbox.add(STREAM, 1, 0, [{ data: "0x02", time: 6n, diff: 1n }]);
      stop(outbox);
      await outbox.finish(31337n, 10n, keccak256("0x02")).catch(() => undefined);
      return sent.filter((m) => m.kind === "batch").map((m) => (m.kind === "batch" ? m.batch.header.originShard : -1));
    };
    expect(await run(() => undefined)).to.have.members([0, 1]);
    expect(await run((o) => o.stopLanes(STREAM, 0))).to.deep.equal([1]);
    expect(await run((o) => o.stopLanes(STREAM))).to.deep.equal([]);
  });
});
