// The verdict a juror votes (worker/disputes/judge.ts) must be, by construction, the batch an honest
// holder's Outbox signs: the same operator over the same inputs, the same batching rule, the same
// input commitment. A differential test: an honest Outbox fed in random chunks and flushed at
// random points signs a channel's batches; `batchAt` rebuilds every one of them from the inputs
// alone. Then `compare` names the right side of a conflict, NEITHER when both are wrong or when
// the channel has no batch at the position.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { Wallet, keccak256, toBeHex, toUtf8Bytes } from "ethers";
import { pino } from "pino";
import { signBatch } from "../../client/batches/signBatch.js";
import { DisputeSide } from "../../client/evidence/disputes.js";
import { protocolDomain, replicaHash, type BatchHeader } from "../../client/math/eip712.js";
import { LtHash16, type Delta } from "../../client/math/lthash.js";
import { Sharder } from "../../client/math/sharding.js";
import { KeyKind, type PartitionSpec } from "../../client/math/index.js";
import { batchAt, compare, originInputs } from "../../worker/disputes/judge.js";
import { parseDisputeId } from "../../worker/disputes/verify.js";
import { Outbox } from "../../worker/exchange/outbox.js";
import type { ExchangeSigner } from "../../worker/exchange/signer.js";
import { OperatorHost } from "../../worker/operators/host.js";
import { prng } from "../utils/prng.js";

const bytecode = new Uint8Array(readFileSync(new URL("../../operators/build/sum_by_key.wasm", import.meta.url)));
const EPOCH = 4n;
const STREAM = keccak256(toUtf8Bytes("balances")).toLowerCase();
const WHOLE: PartitionSpec = { kind: KeyKind.WHOLE, offset: 0, length: 0 };
const N = 4;
const sharder = new Sharder(keccak256(toUtf8Bytes("judge r")), N);
const shardOf = (data: Delta["data"]) => sharder.shardOfDelta(WHOLE, data);
const ORIGIN = 2;
const key = new Wallet(keccak256(toBeHex(0x77, 32)));
const domain = protocolDomain(31337n, "0x" + "22".repeat(20));
const members = ["0x" + "aa".repeat(20), "0x" + "bb".repeat(20)];

/** Source deltas of one origin shard: keys of 1 to 40 bytes (some long, so that byte limits cut too), times = source indices. */
function sourceInputs(count: number, seed: number): Delta[] {
  const rnd = prng(seed);
  return Array.from({ length: count }, (_, i) => ({
    data: toUtf8Bytes("k".repeat(1 + Math.floor(rnd() * 40)) + String(Math.floor(rnd() * 30))),
    time: BigInt(1000 + 3 * i),
    diff: BigInt(1 + Math.floor(rnd() * 5)),
  }));
}

/** What an honest holder's Outbox signs for each shard: the content header by seq. */
async function honestBatches(inputs: Delta[], seed: number, stopAt?: number): Promise<Map<number, BatchHeader[]>> {
  const signer = {
    address: key.address,
    signBatches: (batches: Array<{ headers: BatchHeader[] }>) =>
      Promise.all(batches.map((b) => Promise.all(b.headers.map((h) => signBatch(key, domain, h))))),
    signProof: () => Promise.reject(new Error("not used")),
    signDone: () => Promise.resolve("0x"),
  } as unknown as ExchangeSigner;
  const digests = new Map<bigint, string>();
  const state = new LtHash16();
  for (const d of inputs) {
    state.add(d.data, d.time, d.diff);
    digests.set(BigInt(d.time), state.digest());
  }
  const sent = new Map<number, BatchHeader[]>();
  const outbox = new Outbox({
    epoch: EPOCH,
    me: members[0],
    signer,
    holders: () => [members[1]],
    members,
    live: () => true,
    send: (_to, m) => {
      if (m.kind !== "batch") return;
      const h = m.batch.header;
      (sent.get(Number(h.shard)) ?? sent.set(Number(h.shard), []).get(Number(h.shard))!)[Number(h.seq)] = h;
    },
    shardOf: (_s, data) => shardOf(data),
    inputDigest: (_s, _o, time) => digests.get(time)!,
    local: () => undefined,
    log: pino({ level: "silent" }),
  });
  const host = await OperatorHost.start(bytecode);
  const rnd = prng(seed);
  try {
    for (let i = 0; i < inputs.length;) {
      const size = 1 + Math.floor(rnd() * 90);
      const outs = (await host.process(inputs.slice(i, i + size))).flat();
      i += size;
      if (stopAt !== undefined && i >= stopAt) {
        // The operator stopped here (it failed twice): what it emitted for this chunk never comes.
        outbox.stopLanes(STREAM, ORIGIN);
        continue;
      }
      for (let j = 0; j < outs.length;) {
        let e = j;
        while (e < outs.length && shardOf(outs[e].data) === shardOf(outs[j].data)) ++e;
        outbox.add(STREAM, ORIGIN, shardOf(outs[j].data), outs.slice(j, e));
        j = e;
      }
      if (rnd() < 0.3) await outbox.flush();
    }
    await outbox.finish(31337n, 10n, keccak256(toUtf8Bytes("block")));
  } catch (e) {
    if (!(e as Error).message.includes("not used")) throw e;
  } finally {
    await host.close();
  }
  return sent;
}

const position = (h: BatchHeader) => ({
  epoch: EPOCH,
  stream: STREAM,
  shard: Number(h.shard),
  originShard: ORIGIN,
  seq: BigInt(h.seq),
});
const signed = (header: BatchHeader) => ({ header, signature: "0x", senderIndex: 0 });

describe("worker: the verdict a juror votes", function () {
  this.timeout(120_000);
  const inputs = sourceInputs(900, 5);
  let sent: Map<number, BatchHeader[]>;

  before(async function () {
    sent = await honestBatches(inputs, 9);
  });
  const allSent = () => sent;

  it("rebuilds every batch an honest Outbox signed, from the inputs and the bytecode alone", async function () {
    let checked = 0;
    for (const [shard, headers] of sent) {
      expect(headers.length, `shard ${shard} has several batches`).to.be.greaterThan(1);
      for (const h of headers) {
        const truth = await batchAt({ bytecode, perDeltaMs: 50, inputs, shardOf, position: position(h) });
        expect(truth && replicaHash(truth), `shard ${shard} seq ${h.seq}`).to.equal(replicaHash(h));
        checked += 1;
      }
      const past = { ...position(headers[0]), seq: BigInt(headers.length) };
      expect(await batchAt({ bytecode, perDeltaMs: 50, inputs, shardOf, position: past })).to.equal(undefined);
    }
    expect(checked).to.be.greaterThan(6);
  });

  it("an Outbox whose operator stopped signs only whole batches: a prefix of the truth, never a batch cut short", async function () {
    const stopped = await honestBatches(inputs, 9, 500);
    let sent = 0;
    for (const [shard, headers] of stopped) {
      for (const h of headers) {
        const truth = await batchAt({ bytecode, perDeltaMs: 50, inputs, shardOf, position: position(h) });
        expect(truth && replicaHash(truth), `shard ${shard} seq ${h.seq}`).to.equal(replicaHash(h));
        sent += 1;
      }
    }
    const full = [...allSent()].reduce((x, [, hs]) => x + hs.length, 0);
    expect(sent).to.be.lessThan(full);
  });

  it("names the side that signed the truth, NEITHER when both lie or when there is no such batch", async function () {
    const [, headers] = [...sent].find(([, hs]) => hs.length > 1)!;
    const right = headers[1];
    const truth = await batchAt({ bytecode, perDeltaMs: 50, inputs, shardOf, position: position(right) });
    // A cheater that added one to a change: another multiset, another cumulative hash.
    const wrong = { ...right, sender: members[1], batchMsh: keccak256("0x01"), cumulativeMsh: keccak256("0x02") };
    const ab = compare({ a: signed(right), b: signed(wrong) }, truth);
    expect(ab.side).to.equal(DisputeSide.A);
    expect(ab.parties[1].differs).to.deep.equal(["batchMsh", "cumulativeMsh"]);
    expect(compare({ a: signed(wrong), b: signed(right) }, truth).side).to.equal(DisputeSide.B);
    const alsoWrong = { ...right, inputMsh: keccak256("0x03") };
    const both = compare({ a: signed(alsoWrong), b: signed(wrong) }, truth);
    expect(both.side).to.equal(DisputeSide.NEITHER);
    expect(both.parties[0].differs).to.deep.equal(["inputMsh"]);
    expect(compare({ a: signed(right), b: signed(wrong) }, undefined).side).to.equal(DisputeSide.NEITHER);
  });

  it("gives another answer when an input is changed (the verdict depends on the chain's inputs)", async function () {
    const [, headers] = [...sent][0];
    const h = headers[headers.length - 1];
    const changed = inputs.map((d, i) => (i === 0 ? { ...d, diff: BigInt(d.diff) + 1n } : d));
    const truth = await batchAt({ bytecode, perDeltaMs: 50, inputs: changed, shardOf, position: position(h) });
    expect(truth && replicaHash(truth)).to.not.equal(replicaHash(h));
  });

  it("replays only the disputed stream's source: a window of two sources gives each first stage its own deltas", function () {
    const [transfers, approvals] = ["0x" + "01".repeat(32), "0x" + "02".repeat(32)];
    const window = Array.from({ length: 40 }, (_, i) => ({
      stream: i % 3 === 0 ? approvals : transfers,
      data: toUtf8Bytes(`k${i % 7}`),
      time: BigInt(100 + i),
      index: BigInt(100 + i),
      diff: 1n,
      blockNumber: 1,
    }));
    const shardOfKey = (data: Delta["data"]) => (data.length === 0 ? undefined : shardOf(data));
    for (const stream of [transfers, approvals]) {
      const got = originInputs(window, stream, shardOfKey, ORIGIN);
      const want = window.filter((d) => d.stream === stream && shardOf(d.data) === ORIGIN);
      expect(got.length).to.be.greaterThan(0);
      expect(got.map((d) => d.time)).to.deep.equal(want.map((d) => d.index));
    }
    // The two are disjoint and together all of the origin shard's deltas.
    const all = window.filter((d) => shardOf(d.data) === ORIGIN).map((d) => d.index);
    const both = [transfers, approvals].flatMap((s) => originInputs(window, s, shardOfKey, ORIGIN).map((d) => d.time));
    expect(both.sort((x, y) => (x < y ? -1 : 1))).to.deep.equal(all);
  });

  it("verify-dispute takes an id in decimal or hex, and says what is wrong with anything else", function () {
    expect(parseDisputeId("12345")).to.equal(12345n);
    expect(parseDisputeId("0xff")).to.equal(255n);
    for (const bad of ["", "-1", "1e3", "0x", "abc", "0x" + "f".repeat(65), "9".repeat(79)])
      expect(() => parseDisputeId(bad), bad).to.throw(/not a dispute id/);
    expect(() => parseDisputeId("9".repeat(78))).to.throw(/larger than a uint256/);
  });
});
