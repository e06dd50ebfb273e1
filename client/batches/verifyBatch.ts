import { ZeroHash, type TypedDataDomain } from "ethers";
import { recoverSigner } from "../math/ecrecover.js";
import { batchHeaderDigest, contentHash } from "../math/eip712.js";
import type { BatchStateCache } from "./stateCache.js";
import { LtHash16 } from "../math/lthash.js";
import { deltasRoot } from "../math/merkle.js";
import { Sharder, KeyKind, type PartitionSpec } from "../math/sharding.js";
import { Permutation } from "../math/shuffle.js";
import {
  MAX_BATCH,
  type EpochView,
  type ReceiverChannel,
  type SignedBatch,
  type Verdict,
  type Violation,
} from "./types.js";

/** IFraudProofs.Fault ids. */
export const Fault = {
  MISROUTED_DELTA: 0,
  EQUIVOCATION: 1,
  BATCH_MISMATCH: 2,
  BROKEN_CHAIN: 3,
  INVALID_ACCUMULATED_PROOF: 4,
  /** A wrong output, decided by an execution dispute (docs/design/execution-disputes.md). */
  EXECUTION: 5,
} as const;

/**
 * A new, empty receiver channel (one per incoming (sender, stream, shard)).
 * @example
 * ```ts
 * const channels = new Map<string, ReceiverChannel>(); // key: sender|stream|shard
 * channels.set(key, openReceiverChannel());
 * ```
 */
export function openReceiverChannel(): ReceiverChannel {
  return { seen: new Map() };
}

/**
 * Caches the per-epoch math a receiver reuses for every batch of the epoch.
 * @example
 * ```ts
 * const math = new EpochMath((await getAssignment(maru, epoch, me)).view);
 * ```
 */
export class EpochMath {
  readonly sharder: Sharder;
  readonly permutation: Permutation;
  constructor(readonly view: EpochView) {
    this.sharder = new Sharder(view.r, view.n);
    this.permutation = new Permutation(view.r, view.n);
  }
}

const WHOLE: PartitionSpec = { kind: KeyKind.WHOLE, offset: 0, length: 0 };

/**
 * Every check of docs/protocol.md §8 a receiver makes on an incoming batch, in one pass. Never throws on
 * bad input: every failure is a typed {@link Violation}, with the fault id when it is provable
 * (turn it into evidence with `buildEvidence`). A batch with any violation must not be used.
 * When the batch is accepted (`ok`), `channel` advances: the header is remembered (equivocation
 * and chain checks of later batches) with the cumulative state.
 *
 * Checks, in order: signature by the sender's key for the epoch (EIP-712 under `domain`); this
 * receiver, this epoch, a member sender; at most MAX_BATCH deltas; the deltas are the signed batch
 * (`deltasRoot`); `count`; every delta's shard is the header's (stream partition, r, n); this
 * receiver holds the shard; `batchMsh`; the chain (`prev`, `cumulativeMsh`, seq order);
 * equivocation against headers seen on this channel.
 *
 * @example
 * ```ts
 * const math = new EpochMath(view);
 * const verdict = verifyBatch(batch, { math, me, domain, partitions, channel });
 * if (!verdict.ok) for (const v of verdict.violations) if (v.fault !== undefined) report(v);
 * ```
 */
export function verifyBatch(
  batch: SignedBatch,
  ctx: {
    math: EpochMath;
    /** This receiver's address. */
    me: string;
    domain: TypedDataDomain;
    /** Stream id (lower case) → partition spec of the epoch's graph; a stream not listed is not for this receiver. Omitted: every stream is keyed by the whole data. */
    partitions?: Map<string, PartitionSpec>;
    channel: ReceiverChannel;
    /**
     * Multiset hashes of batches already verified, by their deltas' root: the k holders of a source
     * shard send the same batch, and a root fixes the deltas (so their hash) exactly, so each
     * content is hashed once ({@link BatchStateCache}).
     */
    states?: BatchStateCache;
    /**
     * State handoff streams (docs/protocol.md §9) and the previous epoch's math: a handoff channel
     * carries the state of an origin shard of the previous epoch, which its sender must have held
     * then (it is a member of this epoch too: it signs under it). Omitted: no handoff is taken.
     */
    handoff?: { streams: ReadonlySet<string>; previous: EpochMath };
  },
): Verdict {
  const violations: Violation[] = [];
  const add = (v: Violation) => violations.push(v);
  const { header: h, deltas } = batch;
  const view = ctx.math.view;
  try {
    // Who: signature, receiver, epoch, sender.
    const sender = String(h.sender).toLowerCase();
    const expectedKey = view.signingKeyOf.get(sender);
    let signer = "";
    try {
      signer = recoverSigner(batchHeaderDigest(ctx.domain, h), batch.signature);
    } catch {
      signer = "unrecoverable";
    }
    if (!expectedKey || signer !== expectedKey.toLowerCase()) {
      add({
        kind: "bad-signature",
        message: `signed by ${signer}, not ${sender}'s key ${expectedKey ?? "(unknown sender)"}`,
      });
      return { ok: false, violations };
    }
    if (String(h.receiver).toLowerCase() !== ctx.me.toLowerCase() || BigInt(h.epoch) !== view.epoch) {
      add({ kind: "not-for-me", message: `for ${h.receiver} in epoch ${h.epoch}, not ${ctx.me} in ${view.epoch}` });
      return { ok: false, violations };
    }
    const myIndex = view.indexOf.get(ctx.me.toLowerCase());
    if (myIndex === undefined || !view.indexOf.has(sender)) {
      add({ kind: "not-for-me", message: "sender or receiver is not a member of the epoch" });
      return { ok: false, violations };
    }
    if (deltas.length > MAX_BATCH) {
      add({ kind: "too-large", message: `${deltas.length} deltas > MAX_BATCH ${MAX_BATCH}` });
      return { ok: false, violations };
    }
    // What: the deltas must be the signed batch, or nothing about them is provable.
    const root = deltasRoot(deltas);
    if (root !== h.deltasRoot) {
      add({ kind: "not-the-batch", message: `deltas hash to ${root}, the header signs ${h.deltasRoot}` });
      return { ok: false, violations };
    }
    if (
      deltas.length > 0 &&
      (BigInt(deltas[0].time) !== BigInt(h.firstTime) || BigInt(deltas[deltas.length - 1].time) !== BigInt(h.lastTime))
    ) {
      add({
        kind: "not-the-batch",
        message: `the header signs times ${h.firstTime}..${h.lastTime}, the deltas run ${deltas[0].time}..${deltas[deltas.length - 1].time}`,
      });
      return { ok: false, violations };
    }
    // Whose: a channel carries the outputs of one origin shard, which its sender must hold.
    const origin = Number(h.originShard);
    const isHandoff = ctx.handoff?.streams.has(String(h.stream).toLowerCase()) ?? false;
    const originView = isHandoff ? ctx.handoff!.previous : ctx.math;
    const senderIndex = originView.view.indexOf.get(sender);
    if (
      senderIndex === undefined ||
      origin >= originView.view.n ||
      !originView.permutation.holds(senderIndex, origin, originView.view.k)
    ) {
      add({
        kind: "not-from-a-holder",
        message: `the sender (worker ${senderIndex ?? "none"} of epoch ${originView.view.epoch}) does not hold origin shard ${origin}${isHandoff ? " of the epoch whose state it hands off" : ""}`,
      });
      return { ok: false, violations };
    }
    if (deltas.length !== Number(h.count)) {
      add({
        kind: "count-mismatch",
        fault: Fault.BATCH_MISMATCH,
        message: `count ${h.count}, ${deltas.length} deltas`,
      });
    }
    // Where: shard of every delta, and whether this receiver holds it. A stream the epoch's graph
    // does not have is not for this receiver (on-chain it would not prove a misroute either).
    const shard = Number(h.shard);
    const known = ctx.partitions?.get(String(h.stream).toLowerCase());
    if (ctx.partitions && !known) {
      add({ kind: "not-for-me", message: `stream ${h.stream} is not in the epoch's graph` });
      return { ok: false, violations };
    }
    const spec = known ?? WHOLE;
    if (shard >= view.n) {
      add({
        kind: "misrouted-delta",
        fault: Fault.MISROUTED_DELTA,
        deltaIndex: 0,
        message: `shard ${shard} ≥ n ${view.n}`,
      });
    } else {
      for (let i = 0; i < deltas.length; ++i) {
        const actual = ctx.math.sharder.shardOfDelta(spec, deltas[i].data);
        if (actual !== shard) {
          add({
            kind: "misrouted-delta",
            fault: Fault.MISROUTED_DELTA,
            deltaIndex: i,
            message: `delta ${i} is in shard ${actual}, not ${shard}`,
          });
          break; // one is enough to prove
        }
      }
      if (!ctx.math.permutation.holds(myIndex, shard, view.k)) {
        add({
          kind: "not-a-holder",
          fault: Fault.MISROUTED_DELTA,
          deltaIndex: 0,
          message: `worker ${myIndex} does not hold shard ${shard}`,
        });
      }
    }
    // How much: the batch's multiset hash.
    // `root` is what these deltas hash to (checked above), never what a header claims.
    const cached = ctx.states?.get(root);
    const batchState = cached ? cached.clone() : new LtHash16().addAll(deltas);
    if (!cached) ctx.states?.set(root, batchState.clone());
    if (batchState.digest() !== h.batchMsh) {
      add({
        kind: "batch-msh-mismatch",
        fault: Fault.BATCH_MISMATCH,
        message: `batchMsh ${h.batchMsh}, deltas give ${batchState.digest()}`,
      });
    }
    // The chain and equivocation.
    const seq = BigInt(h.seq);
    const ch = ctx.channel;
    const content = contentHash(h);
    const seen = ch.seen.get(seq);
    if (seen && seen.contentHash !== content) {
      add({ kind: "equivocation", fault: Fault.EQUIVOCATION, message: `a second content for seq ${seq}` });
    }
    let cumulative: LtHash16 | undefined;
    if (seq === 0n) {
      if (h.prev !== ZeroHash || h.cumulativeMsh !== h.batchMsh) {
        add({
          kind: "broken-chain",
          fault: Fault.BROKEN_CHAIN,
          message: "seq 0 with a prev or a cumulative that is not the batch's",
        });
      }
      cumulative = batchState;
    } else if (!ch.last || BigInt(ch.last.header.seq) + 1n !== seq) {
      // Not usable now, even when this content was seen (a held batch sent again): only a second
      // content for a seen seq is something else (equivocation, above).
      if (!seen || seen.contentHash === content)
        add({ kind: "out-of-order", message: `seq ${seq} after ${ch.last ? ch.last.header.seq : "nothing"}` });
    } else {
      if (h.prev !== contentHash(ch.last.header)) {
        add({
          kind: "broken-chain",
          fault: Fault.BROKEN_CHAIN,
          message: `prev ${h.prev} does not link seq ${seq - 1n}`,
        });
      }
      cumulative = ch.last.cumulative.clone().combine(batchState);
      if (cumulative.digest() !== h.cumulativeMsh) {
        add({
          kind: "broken-chain",
          fault: Fault.BROKEN_CHAIN,
          message: `cumulativeMsh is not the previous cumulative plus this batch`,
        });
      }
    }
    const ok = violations.length === 0;
    if (ok && cumulative) {
      ch.last = { header: h, signature: batch.signature, cumulative };
      ch.seen.set(seq, { contentHash: content, header: h, signature: batch.signature });
    } else if (!seen && violations.every((v) => v.kind !== "bad-signature")) {
      // Remember signed content even when rejected: a later second content is still equivocation.
      ch.seen.set(seq, { contentHash: content, header: h, signature: batch.signature });
    }
    return { ok, violations, batchState };
  } catch (e) {
    // Malformed input (a bad hex string, a wrong type): a violation, never a throw.
    add({ kind: "not-for-me", message: `malformed batch: ${(e as Error).message.split("\n")[0]}` });
    return { ok: false, violations };
  }
}
