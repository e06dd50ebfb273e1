// The adversary layer: a worker that lies on purpose, to show (devnet, tests) that every lie is
// caught. It decorates the exchange layer's Outbox, and the production Outbox has no branch for
// it. It signs with the bare key, bypassing the protection record, as a real cheater would (the
// record would refuse its equivocation). One lie per process. Modes: ./modes.ts.
import { handoffOrigin } from "../../client/registry/handoff.js";
import { keccak256, toUtf8Bytes, hexlify, randomBytes, type TypedDataDomain, type Wallet } from "ethers";
import { buildAccumulatedProof, signBatch } from "../../client/batches/signBatch.js";
import type { SignedAccumulatedProof } from "../../client/batches/verifyAccumulatedProof.js";
import type { BatchHeader } from "../../client/math/eip712.js";
import type { Delta } from "../../client/math/lthash.js";
import { laneKey, Outbox, type Lane, type OutboxOptions, type Sealed } from "../exchange/outbox.js";
import type { CheatRecord } from "../engine/report.js";
import type { ByzantineMode } from "./modes.js";

/** What the lies of one process share: whether it has lied yet, and the record of it. */
export type Liar = {
  mode: ByzantineMode;
  key: Wallet;
  domain: TypedDataDomain;
  cheated: boolean;
  cheats: CheatRecord[];
};

class ByzantineOutbox extends Outbox {
  private readonly unrecorded = new Set<Sealed>();

  constructor(
    o: OutboxOptions,
    private readonly liar: Liar,
  ) {
    super(o);
  }

  private lie(lane: Lane, seq: bigint): void {
    this.liar.cheated = true;
    const record: CheatRecord = {
      mode: this.liar.mode,
      epoch: this.o.epoch.toString(),
      stream: lane.stream,
      shard: lane.shard,
      seq: seq.toString(),
      at: Date.now(),
    };
    this.liar.cheats.push(record);
    this.o.log.warn(record, "cheated (byzantine mode)");
  }

  /**
   * `wrong-output`: the first stage's output is wrong for some inputs (one more on every change of
   * an account whose first byte is even), and everything after is honest: the wrong deltas are
   * batched, signed, chained and routed like right ones, and this worker uses them itself too. Its
   * state handoff (deltas at handoff times) is honest: it is no first-stage output.
   */
  override add(stream: string, originShard: number, shard: number, deltas: Delta[]): void {
    if (this.liar.mode !== "wrong-output" || (deltas.length > 0 && handoffOrigin(BigInt(deltas[0].time)) !== undefined))
      return super.add(stream, originShard, shard, deltas);
    let lied = false;
    const wrong = deltas.map((d) => {
      const first = typeof d.data === "string" ? parseInt(d.data.slice(2, 4), 16) : (d.data as Uint8Array)[0];
      if (first % 2 !== 0) return d;
      lied = true;
      return { ...d, diff: BigInt(d.diff) + 1n };
    });
    super.add(stream, originShard, shard, wrong);
    const lane = this.lanes.get(laneKey(stream, originShard, shard))!;
    if (lied && !this.liar.cheated) this.lie(lane, lane.ch.seq);
  }

  protected override seal(lane: Lane, deltas: Delta[]): Sealed[] {
    const { mode, cheated } = this.liar;
    if (cheated) return super.seal(lane, deltas);
    const seq = lane.ch.seq;
    if (mode === "misroute") {
      // A delta of another shard, slipped into the signed batch (its own copy stays honest).
      let data: string;
      do data = hexlify(randomBytes(20));
      while (this.o.shardOf(lane.stream, data) === lane.shard);
      const wire = [...deltas, { data, time: deltas[0].time, diff: 1n }];
      const [content, ...headers] = this.build(lane, lane.ch, wire);
      this.lie(lane, seq);
      return [{ lane, content, headers, deltas: wire, local: deltas }];
    }
    if (mode === "equivocate") {
      // Two contents for one seq: the honest batch and one whose last delta counts once more.
      const before = { ...lane.ch, cumulative: lane.ch.cumulative.clone() };
      const honest = super.seal(lane, deltas);
      const other = deltas.map((d, i) => (i === deltas.length - 1 ? { ...d, diff: BigInt(d.diff) + 1n } : d));
      const [content, ...headers] = this.build(lane, before, other);
      const second = { lane, content, headers, deltas: other, local: [] };
      this.unrecorded.add(second);
      this.lie(lane, seq);
      return [...honest, second];
    }
    if (mode === "bad-batch-hash" && seq === 0n) {
      const [s] = super.seal(lane, deltas);
      const fake = keccak256(toUtf8Bytes(`not the batch ${seq}`));
      for (const h of [s.content, ...s.headers]) Object.assign(h, { batchMsh: fake, cumulativeMsh: fake });
      this.lie(lane, seq);
      return [s];
    }
    if (mode === "broken-chain") {
      // The lie needs a previous header: the first source time's deltas go honestly first.
      const cut = seq === 0n ? deltas.findIndex((d) => BigInt(d.time) !== BigInt(deltas[0].time)) : 0;
      if (seq === 0n && cut <= 0) return super.seal(lane, deltas);
      const first = cut > 0 ? super.seal(lane, deltas.slice(0, cut)) : [];
      const [s] = super.seal(lane, deltas.slice(Math.max(cut, 0)));
      for (const h of [s.content, ...s.headers]) Object.assign(h, { cumulativeMsh: h.batchMsh }); // forgets the history
      this.lie(lane, s.content.seq);
      return [...first, s];
    }
    return super.seal(lane, deltas);
  }

  /** The second content of an equivocation goes out but is not kept: proofs and resends repeat the first. */
  protected override deliver(s: Sealed, headers: BatchHeader[], signatures: string[]): void {
    if (!this.unrecorded.has(s)) return super.deliver(s, headers, signatures);
    headers.forEach((h, i) =>
      this.o.send(h.receiver, { kind: "batch", batch: { header: h, signature: signatures[i], deltas: s.deltas } }),
    );
  }

  /** A cheater does not protect itself: the bare key signs whatever it built. */
  protected override async sign(batches: Array<{ content: BatchHeader; headers: BatchHeader[] }>): Promise<string[][]> {
    return Promise.all(
      batches.map((b) => Promise.all(b.headers.map((h) => signBatch(this.liar.key, this.liar.domain, h)))),
    );
  }

  protected override async proof(
    lane: Lane,
    chainId: bigint,
    lastBlock: bigint,
    blockHash: string,
  ): Promise<SignedAccumulatedProof> {
    const last = lane.sent[lane.sent.length - 1].content;
    if (this.liar.mode === "bad-accumulated-proof" && !this.liar.cheated) {
      this.lie(lane, BigInt(last.seq));
      blockHash = keccak256(toUtf8Bytes(`not block ${lastBlock}`));
    }
    return buildAccumulatedProof(this.liar.key, this.liar.domain, last, chainId, lastBlock, blockHash);
  }
}

/**
 * The outbox factory of a byzantine worker (`--byzantine MODE`); `withhold` sends nothing at all.
 * @example
 * ```ts
 * const liar = { mode, key: signingKey, domain, cheated: false, cheats: [] };
 * new Dataflow({ ...options, outbox: byzantineOutbox(liar) });
 * ```
 */
export function byzantineOutbox(liar: Liar): (o: OutboxOptions) => Outbox {
  return (o) => new ByzantineOutbox(liar.mode === "withhold" ? { ...o, send: () => {} } : o, liar);
}
