// The receiving half of the exchange layer (docs/protocol.md §8, §11): every incoming batch is checked
// (verifyBatch) before use, every accumulated proof is judged once the block it names is final,
// end notices are accepted only when signed by the sender's key for this receiver, and what is
// held back (batches that arrive out of order) is bounded. Duplicates (a restarted sender replays
// its epoch; a resend after a lost message) are recognised by their content and dropped quietly.
import type { Logger } from "pino";
import type { TypedDataDomain } from "ethers";
import { contentHash, type BatchHeader } from "../../client/math/eip712.js";
import { dataLength, type Delta } from "../../client/math/lthash.js";
import { EpochMath, Fault, openReceiverChannel, verifyBatch } from "../../client/batches/verifyBatch.js";
import { verifyAccumulatedProof, type SignedAccumulatedProof } from "../../client/batches/verifyAccumulatedProof.js";
import type { ReceiverChannel, SignedBatch, StreamPartitions } from "../../client/batches/types.js";
import type { BatchStateCache } from "../../client/batches/stateCache.js";
import { buildEvidence, type Evidence } from "../../client/evidence/buildEvidence.js";
import type { Assignment } from "../../client/actions/getAssignment.js";
import type { EpochDone } from "../transport/codec.js";
import { doneSigner } from "./notices.js";
import { noMetrics, type WorkerMetrics } from "../metrics/metrics.js";

/** Out-of-order batches held per channel, and data bytes held per sender, at most. */
export const STASH_LIMITS = { perChannel: 1024, bytesPerSender: 64 * 1024 * 1024 };

export type InboxOptions = {
  epoch: bigint;
  /** The epoch's batch states, shared with its Outbox (a content is hashed once here). */
  states?: BatchStateCache;
  me: string;
  a: Assignment;
  domain: TypedDataDomain;
  partitions: StreamPartitions;
  /** State handoff streams and the previous epoch's math (verifyBatch's `handoff`); omitted: none is taken. */
  handoff?: { streams: ReadonlySet<string>; previous: EpochMath };
  /** The streams of the graph's second exchange: their channels are closed by a sender's stage-2 end notice. */
  secondStage?: ReadonlySet<string>;
  /** Run verifyBatch and verifyAccumulatedProof (off only to measure what they cost). */
  checks: boolean;
  /** The source chain's id: accumulated proofs must name it. */
  sourceChainId: bigint;
  live(worker: string): boolean;
  /** A batch that passed every check (or this worker's own): its deltas may be used. */
  accept(sender: string, header: BatchHeader, deltas: Delta[]): void;
  /** A provable violation. */
  evidence(worker: string, evidence: Evidence): void;
  log: Logger;
  metrics?: WorkerMetrics;
};

/** What an epoch's inbox counts (part of the epoch report). */
export type InboxCounters = {
  acceptedBatches: number;
  acceptedDeltas: number;
  rejectedBatches: number;
  duplicates: number;
  droppedFromEjected: number;
  proofsChecked: number;
  proofsRefused: number;
  forgedNotices: number;
  stashDropped: number;
  verifyMs: number;
  violations: Record<string, number>;
};

/** The key of an incoming channel: sender, stream, origin shard and shard (lower case). */
const channelKey = (sender: string, stream: string, originShard: number, shard: number) =>
  `${sender.toLowerCase()}|${stream.toLowerCase()}|${originShard}|${shard}`;

const bytesOf = (deltas: Delta[]) => deltas.reduce((s, d) => s + 40 + dataLength(d), 0);

/**
 * An epoch's incoming channels at one worker.
 * @example
 * ```ts
 * const inbox = new Inbox({ epoch, me, a, domain, partitions, checks: true, sourceChainId, live, accept, evidence, log });
 * inbox.onBatch(batch); inbox.onProof(proof); inbox.onDone(done);
 * await inbox.judgeProofs(windowEnd, finalized, canonicalHash); // on every tick
 * if (inbox.complete()) finish();
 * ```
 */
export class Inbox {
  private readonly math: EpochMath;
  private readonly channels = new Map<string, ReceiverChannel>();
  private readonly received = new Map<string, bigint>();
  private readonly stash = new Map<string, Map<bigint, SignedBatch>>();
  private readonly stashBytes = new Map<string, number>();
  private readonly pendingProofs: SignedAccumulatedProof[] = [];
  private readonly proofsFrom = new Map<string, number>();
  /** Each sender's end notice of the first exchange (and the state handoff). */
  readonly done = new Map<string, EpochDone>();
  /** Each sender's end notice of the graph's second exchange. */
  readonly done2 = new Map<string, EpochDone>();
  /** Members the second exchange does not wait for (silent through the first: see `excuse`). */
  private readonly excused = new Set<string>();
  readonly stats: InboxCounters = {
    acceptedBatches: 0,
    acceptedDeltas: 0,
    rejectedBatches: 0,
    duplicates: 0,
    droppedFromEjected: 0,
    proofsChecked: 0,
    proofsRefused: 0,
    forgedNotices: 0,
    stashDropped: 0,
    verifyMs: 0,
    violations: {},
  };

  private readonly metrics: WorkerMetrics;

  constructor(private readonly o: InboxOptions) {
    this.math = new EpochMath(o.a.view);
    this.metrics = o.metrics ?? noMetrics;
  }

  private count(kind: string) {
    this.stats.violations[kind] = (this.stats.violations[kind] ?? 0) + 1;
  }

  /** This worker's own batch (a shard it holds): no signature, no checks. */
  own(header: BatchHeader, deltas: Delta[]): void {
    this.use(channelKey(this.o.me, header.stream, Number(header.originShard), Number(header.shard)), header, deltas);
  }

  private use(key: string, header: BatchHeader, deltas: Delta[]): void {
    this.received.set(key, BigInt(header.seq) + 1n);
    this.stats.acceptedBatches += 1;
    this.stats.acceptedDeltas += deltas.length;
    this.o.accept(String(header.sender).toLowerCase(), header, deltas);
  }

  /** Checks and uses a batch; returns "abusive" for one no honest member sends (a bad signature). */
  onBatch(batch: SignedBatch): "abusive" | undefined {
    const h = batch.header;
    const sender = String(h.sender).toLowerCase();
    const stream = String(h.stream).toLowerCase();
    if (!this.o.live(sender)) {
      this.stats.droppedFromEjected += 1;
      this.metrics.batchRejected("sender-ejected");
      return;
    }
    const key = channelKey(sender, stream, Number(h.originShard), Number(h.shard));
    const seq = BigInt(h.seq);
    if (!this.o.checks) {
      // Unverified (a measurement only): a replayed seq is still used once.
      if (seq < (this.received.get(key) ?? 0n)) return;
      this.use(key, h, batch.deltas);
      return;
    }
    const channel = this.channels.get(key) ?? openReceiverChannel();
    if (this.stash.get(key)?.has(seq)) {
      this.stats.duplicates += 1; // already held until its gap fills: not verified again
      return;
    }
    const seen = channel.seen.get(seq);
    if (seen && channel.last && seq <= BigInt(channel.last.header.seq) && seen.contentHash === contentHash(h)) {
      this.stats.duplicates += 1; // a replay after a restart, or a resend
      return;
    }
    const t0 = performance.now();
    const verdict = verifyBatch(batch, {
      math: this.math,
      me: this.o.me,
      domain: this.o.domain,
      partitions: this.o.partitions,
      channel,
      states: this.o.states,
      handoff: this.o.handoff,
    });
    this.stats.verifyMs += performance.now() - t0;
    if (verdict.ok) {
      this.channels.set(key, channel);
      this.use(key, h, batch.deltas);
      const held = this.stash.get(key);
      const next = held?.get(seq + 1n);
      if (next) {
        held!.delete(seq + 1n);
        this.stashBytes.set(sender, (this.stashBytes.get(sender) ?? 0) - bytesOf(next.deltas));
        this.onBatch(next);
      }
      return;
    }
    if (verdict.violations.every((v) => v.kind === "out-of-order")) {
      this.channels.set(key, channel);
      this.hold(key, sender, seq, batch);
      return;
    }
    if (verdict.violations.some((v) => v.kind === "bad-signature" || v.kind === "not-for-me")) {
      // Nothing provable, and nothing worth remembering: drop without keeping any state.
      for (const v of verdict.violations) this.count(v.kind);
      this.metrics.batchRejected(verdict.violations[0].kind);
      if (verdict.violations.some((v) => v.kind === "bad-signature")) {
        this.o.log.warn({ epoch: this.o.epoch.toString(), sender }, "batch dropped: not signed by the sender's key");
        return "abusive";
      }
      this.o.log.warn(
        { epoch: this.o.epoch.toString(), sender, violations: verdict.violations.map((v) => v.message) },
        "batch dropped",
      );
      return;
    }
    this.channels.set(key, channel);
    this.stats.rejectedBatches += 1;
    for (const v of verdict.violations) this.count(v.kind);
    this.metrics.batchRejected(verdict.violations[0].kind);
    this.o.log.warn(
      {
        epoch: this.o.epoch.toString(),
        sender,
        seq: seq.toString(),
        violations: verdict.violations.map((v) => v.message),
      },
      "batch rejected",
    );
    // One evidence per provable fault. The chain check recomputes the cumulative hash from the
    // deltas; when the signed batchMsh is itself false, only the batch mismatch is provable.
    const faults = new Map<number, (typeof verdict.violations)[number]>();
    for (const v of verdict.violations) if (v.fault !== undefined && !faults.has(v.fault)) faults.set(v.fault, v);
    if (faults.has(Fault.BATCH_MISMATCH)) faults.delete(Fault.BROKEN_CHAIN);
    for (const v of faults.values()) {
      try {
        this.o.evidence(
          sender,
          buildEvidence(v, batch, { view: this.o.a.view, me: this.o.me, channel, batchState: verdict.batchState! }),
        );
      } catch (e) {
        this.o.log.warn({ kind: v.kind, error: (e as Error).message }, "violation not provable");
      }
    }
  }

  /** Holds an out-of-order batch until its gap fills, within the per-channel and per-sender bounds. */
  private hold(key: string, sender: string, seq: bigint, batch: SignedBatch): void {
    const held = this.stash.get(key) ?? new Map<bigint, SignedBatch>();
    const bytes = bytesOf(batch.deltas);
    const total = this.stashBytes.get(sender) ?? 0;
    if (held.has(seq)) return;
    if (held.size >= STASH_LIMITS.perChannel || total + bytes > STASH_LIMITS.bytesPerSender) {
      this.stats.stashDropped += 1; // the sender resends on request once the gap fills
      return;
    }
    held.set(seq, batch);
    this.stash.set(key, held);
    this.stashBytes.set(sender, total + bytes);
  }

  /** An accumulated proof: judged by {@link judgeProofs} once its block is final and its channel complete. */
  onProof(sp: SignedAccumulatedProof): void {
    const sender = String(sp.proof.sender).toLowerCase();
    if (!this.o.checks || !this.o.live(sender)) return;
    // Per sender, so that one member repeating itself cannot crowd out another's proofs.
    const count = this.proofsFrom.get(sender) ?? 0;
    if (count >= 4 * Math.max(1, this.o.partitions.size) * this.o.a.view.n) return;
    this.proofsFrom.set(sender, count + 1);
    this.pendingProofs.push(sp);
  }

  /**
   * Judges pending proofs whose block `windowEnd` is final (≤ `finalized`). A proof must name the
   * source chain, the window's last block and the last seq received on its channel (else it is
   * refused: nothing it claims is used); a false block hash or a cumulative hash that contradicts
   * the header of that seq is evidence.
   */
  async judgeProofs(
    windowEnd: number | undefined,
    finalized: number,
    canonicalHash: (n: bigint) => Promise<string | undefined>,
    graceOver: boolean,
  ): Promise<void> {
    if (windowEnd === undefined || windowEnd > finalized) return;
    const waiting: SignedAccumulatedProof[] = [];
    for (const sp of this.pendingProofs.splice(0)) {
      const p = sp.proof;
      const sender = String(p.sender).toLowerCase();
      const key = channelKey(sender, String(p.stream), Number(p.originShard), Number(p.shard));
      const got = this.received.get(key) ?? 0n;
      if (got < BigInt(p.seq) + 1n && !graceOver) {
        waiting.push(sp); // its batches are still coming
        continue;
      }
      const verdict = await verifyAccumulatedProof(sp, {
        view: this.o.a.view,
        domain: this.o.domain,
        channel: this.channels.get(key),
        canonicalHash: async (chain, n) =>
          chain === this.o.sourceChainId && n <= BigInt(finalized) ? canonicalHash(n) : undefined,
        sourceChainId: this.o.sourceChainId,
        windowEnd: BigInt(windowEnd),
      });
      this.stats.proofsChecked += 1;
      for (const v of verdict.violations) {
        this.count(v.kind);
        this.o.log.warn({ epoch: this.o.epoch.toString(), sender, violation: v.message }, "accumulated proof rejected");
        if (v.evidence) this.o.evidence(sender, v.evidence);
      }
      if (verdict.violations.some((v) => v.kind === "bad-signature")) continue;
      const claims =
        BigInt(p.sourceChainId) !== this.o.sourceChainId
          ? `names chain ${p.sourceChainId}, the source is ${this.o.sourceChainId}`
          : BigInt(p.blockNumber) !== BigInt(windowEnd)
            ? `names block ${p.blockNumber}, the window ends at ${windowEnd}`
            : BigInt(p.seq) + 1n !== got
              ? `covers seq ${p.seq}, ${got} batches were received`
              : undefined;
      if (claims) {
        this.stats.proofsRefused += 1;
        this.o.log.warn({ epoch: this.o.epoch.toString(), sender, reason: claims }, "accumulated proof refused");
      }
    }
    this.pendingProofs.push(...waiting);
  }

  /** A signed end notice: kept only when its signer is the sender's key for this epoch and it is for this worker. */
  onDone(done: EpochDone): boolean {
    const sender = done.sender.toLowerCase();
    const key = this.o.a.view.signingKeyOf.get(sender);
    if (
      !key ||
      done.receiver.toLowerCase() !== this.o.me ||
      BigInt(done.epoch) !== this.o.epoch ||
      doneSigner(this.o.domain, done) !== key.toLowerCase()
    ) {
      this.stats.forgedNotices += 1;
      this.o.log.warn(
        { epoch: this.o.epoch.toString(), sender },
        "end notice refused: not signed by the sender for this worker",
      );
      return false;
    }
    this.notices(done.stage === 2 ? 2 : 1).set(sender, done);
    return true;
  }

  /** Each sender's end notice of exchange `stage`. */
  private notices(stage: 1 | 2): Map<string, EpochDone> {
    return stage === 2 ? this.done2 : this.done;
  }

  /** The exchange a stream belongs to. */
  private stageOf(stream: string): 1 | 2 {
    return this.o.secondStage?.has(stream.toLowerCase()) ? 2 : 1;
  }

  /** `sender`'s end notice of the exchange `stream` belongs to. */
  private notice(sender: string, stream: string): EpochDone | undefined {
    return this.notices(this.stageOf(stream)).get(sender);
  }

  /** Whether `sender`'s end notice names the channel (stream, originShard, shard), even with no batch on it. */
  declared(sender: string, stream: string, originShard: number, shard: number): boolean {
    return (
      this.notice(sender, stream)?.channels.some(
        (x) => x.stream.toLowerCase() === stream && x.shard === shard && x.originShard === originShard,
      ) ?? false
    );
  }

  /**
   * True once `sender`'s signed end notice is here and every batch it announced on the channel
   * (stream, originShard, shard) was used.
   */
  closed(sender: string, stream: string, originShard: number, shard: number): boolean {
    const d = this.notice(sender, stream);
    if (!d) return false;
    const c = d.channels.find(
      (x) => x.stream.toLowerCase() === stream && x.shard === shard && x.originShard === originShard,
    );
    return (this.received.get(channelKey(sender, stream, originShard, shard)) ?? 0n) >= (c ? BigInt(c.batches) : 0n);
  }

  /**
   * The signed headers this worker accepted from `sender` on channel (stream, originShard, shard), by
   * seq: the evidence a dispute is opened on (docs/protocol.md §12).
   */
  signedHeaders(
    sender: string,
    stream: string,
    originShard: number,
    shard: number,
  ): ReadonlyMap<bigint, { header: BatchHeader; signature: string }> {
    return this.channels.get(channelKey(sender, stream, originShard, shard))?.seen ?? new Map();
  }

  /**
   * The second exchange does not wait for `members` (no end notice of the first came from them
   * within its grace): their copies are used if they come before it ends, and their absence
   * leaves the copies of their co-holders alone (said as unconfirmed) or a gap (incomplete).
   */
  excuse(members: Iterable<string>): void {
    for (const m of members) this.excused.add(m.toLowerCase());
  }

  /** Every channel this worker received batches on from `sender`, with the seq it needs next. */
  positions(sender: string): Array<{ stream: string; shard: number; originShard: number; fromSeq: bigint }> {
    const out = [];
    for (const [key, got] of this.received) {
      const [from, stream, originShard, shard] = key.split("|");
      if (from === sender.toLowerCase())
        out.push({ stream, shard: Number(shard), originShard: Number(originShard), fromSeq: got });
    }
    return out;
  }

  /**
   * Every live member has sent its signed end notice of exchange `stage`, and everything it
   * announced there has arrived.
   */
  complete(stage: 1 | 2 = 1): boolean {
    return this.missing(stage).length === 0;
  }

  /**
   * What is still missing of exchange `stage`, by member: the channels to ask again from the seq
   * that should come next.
   */
  missing(stage: 1 | 2 = 1): Array<{
    member: string;
    noticed: boolean;
    channels: Array<{ stream: string; shard: number; originShard: number; fromSeq: bigint }>;
  }> {
    const out = [];
    for (const m of this.o.a.members) {
      if (m === this.o.me || !this.o.live(m) || (stage === 2 && this.excused.has(m))) continue;
      const d = this.notices(stage).get(m);
      const channels = [];
      let short = !d;
      for (const c of d?.channels ?? []) {
        const got = this.received.get(channelKey(m, c.stream, c.originShard, c.shard)) ?? 0n;
        if (got < BigInt(c.batches)) short = true;
        channels.push({ stream: c.stream, shard: c.shard, originShard: c.originShard, fromSeq: got });
      }
      if (!d) channels.push(...this.positions(m).filter((c) => this.stageOf(c.stream) === stage));
      if (short) out.push({ member: m, noticed: d !== undefined, channels });
    }
    return out;
  }
}
