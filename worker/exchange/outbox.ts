// The sending half of the exchange layer (docs/protocol.md §6, §11): an epoch's outgoing channels, cut
// into batches by a rule that depends only on the epoch's data, signed through the protection
// record, delivered to the live holders of each shard, kept for resending, and closed with
// accumulated proofs and signed end notices.
//
// A channel is (epoch, stream, shard, origin shard): the outputs of one origin shard's inputs for
// one shard, so the k holders of the origin shard build the same batches at the same positions
// (docs/protocol.md §12). Each header also signs the origin shard's input commitment at its last
// time (`inputMsh`, from `inputDigest`).
//
// The batching rule (./packing.ts). A channel's deltas arrive in time order (a first-stage operator
// emits, for each source delta, outputs carrying that delta's time). They form time groups; a group
// is complete when a later time arrives on the channel or the epoch's window ends, and complete
// groups are packed greedily. The poll that happened to read a block, or when a tick ran, never
// moves a cut: replaying an epoch after a crash rebuilds
// byte-identical headers, so the protection record finds the same content at every position.
import { noMetrics, type WorkerMetrics } from "../metrics/metrics.js";
import type { Logger } from "pino";
import { ZeroAddress } from "ethers";
import { buildBatch, openChannel } from "../../client/batches/buildBatch.js";
import type { SenderChannel, SignedBatch } from "../../client/batches/types.js";
import type { SignedAccumulatedProof } from "../../client/batches/verifyAccumulatedProof.js";
import type { BatchHeader } from "../../client/math/eip712.js";
import type { Delta } from "../../client/math/lthash.js";
import { decodeDeltas, encodeDeltas, type Message, type ResendRequest } from "../transport/codec.js";
import { packGroup, type Group } from "./packing.js";
import type { BatchStateCache } from "../../client/batches/stateCache.js";
import type { ExchangeSigner } from "./signer.js";

export type { Group } from "./packing.js";

/** A batch built and ready to sign: its content, and the header for each receiver. */
export type Sealed = {
  lane: Lane;
  content: BatchHeader;
  headers: BatchHeader[];
  /** What goes on the wire. */
  deltas: Delta[];
  /** What this worker feeds itself when it holds the shard (the same as `deltas` when honest). */
  local: Delta[];
  /** `deltas` as the wire carries them (`encodeDeltas`), once before signing, for every receiver and resends. */
  packed?: Uint8Array;
};

/** One outgoing channel: (epoch, stream, shard, originShard, me). */
export type Lane = {
  key: string;
  stream: string;
  shard: number;
  originShard: number;
  ch: SenderChannel;
  open?: Group;
  batch: Delta[];
  bytes: number;
  /**
   * Every batch sent, by seq: content, deltas as the wire carries them (`encodeDeltas`: a finished
   * epoch's batches stay for RETAINED_EPOCHS epochs, and a buffer per batch holds a fraction of what
   * a delta object each did) and each receiver's signature, for resending.
   */
  sent: Array<{ content: BatchHeader; packed: Uint8Array; signatures: Map<string, string> }>;
  proof?: SignedAccumulatedProof;
  /** The operator that feeds it stopped: nothing more is batched, and what was waiting is dropped. */
  stopped?: boolean;
  /** Named in the end notice even with no batch (a state handoff says "this is all of it"). */
  declared?: boolean;
  /** The exchange it belongs to: 2 for a stream of a graph's second exchange (its own end notice). */
  stage: 1 | 2;
};

export type OutboxOptions = {
  epoch: bigint;
  /** This worker (lower case). */
  me: string;
  signer: ExchangeSigner;
  /** The holders (addresses, lower case) of a shard in this epoch. */
  holders(shard: number): readonly string[];
  /** Members of the epoch, lower case. */
  members: string[];
  /** False once a worker is ejected: nothing more is sent to it. */
  live(worker: string): boolean;
  send(to: string, m: Message): void;
  /** The shard of a delta of `stream` in this epoch. */
  shardOf(stream: string, data: Delta["data"]): number;
  /** The digest of the inputs of `stream`'s origin shard up to and including `time` (the input commitment). */
  inputDigest(stream: string, originShard: number, time: bigint): string;
  /** A batch of a shard this worker holds: straight into its own inbox, unsigned. */
  local(header: BatchHeader, deltas: Delta[]): void;
  /** The epoch's batch states, shared with its Inbox (a content is hashed once here). */
  states?: BatchStateCache;
  /** The streams of the graph's second exchange: their channels end with a notice of their own (stage 2). */
  secondStage?: ReadonlySet<string>;
  log: Logger;
  metrics?: WorkerMetrics;
};

/** The key of a channel: stream, origin shard and shard. */
export const laneKey = (stream: string, originShard: number, shard: number) => `${stream}|${originShard}|${shard}`;

/**
 * An epoch's outgoing channels.
 * @example
 * ```ts
 * const out = new Outbox({ epoch, me, signer, holders, members, live, send, local, log });
 * out.add(stream, originShard, shard, deltas); // as operators emit, in time order
 * await out.flush();              // on every tick: signs and sends the batches that are complete
 * await out.finish(chainId, lastBlock, blockHash); // the window's end: last batches, proofs, notices
 * ```
 */
export class Outbox {
  protected readonly lanes = new Map<string, Lane>();
  private ready: Sealed[] = [];
  private signing: Promise<void> = Promise.resolve();
  /** Set when the protection record refused a signature: this outbox sends nothing more this epoch. */
  refused?: string;
  /** The exchanges whose end notices went out (1, then 2 for a graph with a second exchange). */
  readonly finishedStages = new Set<1 | 2>();
  get finished(): boolean {
    return this.finishedStages.has(1);
  }
  lastBlock?: bigint;
  readonly stats = { sentBatches: 0, sentDeltas: 0 };

  constructor(readonly o: OutboxOptions) {}

  /** Queues deltas of `stream` for `shard` produced from `originShard`'s inputs, in time order. */
  add(stream: string, originShard: number, shard: number, deltas: Delta[]): void {
    const lane = this.lane(stream, originShard, shard);
    if (lane.stopped) return;
    for (const d of deltas) {
      const t = BigInt(d.time);
      if (lane.open && lane.open.time !== t) this.close(lane);
      if (!lane.open) lane.open = { time: t, deltas: [] };
      lane.open.deltas.push(d);
    }
  }

  /**
   * Opens channel (stream, originShard, shard) and names it in the end notices even if it carries
   * no batch: its receivers learn that this worker sent all it had for it (a state handoff).
   */
  declare(stream: string, originShard: number, shard: number): void {
    this.lane(stream, originShard, shard).declared = true;
  }

  private lane(stream: string, originShard: number, shard: number): Lane {
    const key = laneKey(stream, originShard, shard);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = {
        key,
        stream,
        shard,
        originShard,
        ch: openChannel(this.o.epoch, stream, shard, originShard, this.o.me),
        batch: [],
        bytes: 0,
        sent: [],
        stage: this.o.secondStage?.has(stream) ? 2 : 1,
      };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** The open group is complete: packs it into the batch being filled, cutting where the rule says. */
  private close(lane: Lane): void {
    const g = lane.open!;
    lane.open = undefined;
    packGroup(lane, g.deltas, () => this.cut(lane));
  }

  private cut(lane: Lane): void {
    if (lane.batch.length === 0 || lane.stopped) return;
    this.ready.push(...this.seal(lane, lane.batch));
    lane.batch = [];
    lane.bytes = 0;
  }

  /**
   * The operator producing `stream` from `originShard`'s inputs (undefined: from every origin, an
   * operator after the exchange) stopped for the epoch: its lanes
   * send nothing more, and the group and batch they were filling are dropped. A batch cut short
   * would be signed content that differs from its co-holders' at the same position, a provable
   * EXECUTION fault; sending nothing more is only silence. The batches already cut are whole.
   */
  stopLanes(stream: string, originShard?: number): void {
    for (const lane of this.lanes.values()) {
      if (lane.stream !== stream || (originShard !== undefined && lane.originShard !== originShard)) continue;
      lane.stopped = true;
      lane.open = undefined;
      lane.batch = [];
      lane.bytes = 0;
    }
  }

  /** Builds the next batch of a lane for its live holders (the content never depends on who they are). */
  protected seal(lane: Lane, deltas: Delta[]): Sealed[] {
    const [content, ...headers] = this.build(lane, lane.ch, deltas);
    return [{ lane, content, headers, deltas, local: deltas }];
  }

  /** The content header and one header per live holder of the lane's shard, advancing `ch`. */
  protected build(lane: Lane, ch: SenderChannel, deltas: Delta[]): BatchHeader[] {
    const receivers = this.o.holders(lane.shard).filter((w) => this.o.live(w));
    const inputMsh = this.o.inputDigest(lane.stream, lane.originShard, BigInt(deltas[deltas.length - 1].time));
    return buildBatch(ch, deltas, [ZeroAddress, ...receivers], inputMsh, this.o.states);
  }

  /** Signs (through the protection record) and delivers every batch that is complete. */
  flush(): Promise<void> {
    this.signing = this.signing.then(() => this.flushNow());
    return this.signing;
  }

  private async flushNow(): Promise<void> {
    if (this.ready.length === 0 || this.refused) return;
    const batch = this.ready;
    this.ready = [];
    try {
      // Before anything is signed: deltas the wire cannot carry stop the epoch's sending here,
      // never half-way through delivering what was signed.
      for (const s of batch) s.packed = encodeDeltas(s.deltas);
    } catch (e) {
      this.refuse(e as Error);
      return;
    }
    const remote = batch.map((s) => ({
      content: s.content,
      headers: s.headers.filter((h) => h.receiver !== this.o.me),
    }));
    let signatures: string[][];
    try {
      signatures = await this.sign(remote);
    } catch (e) {
      this.refuse(e as Error);
      return;
    }
    batch.forEach((s, i) => this.deliver(s, remote[i].headers, signatures[i]));
  }

  protected sign(batches: Array<{ content: BatchHeader; headers: BatchHeader[] }>): Promise<string[][]> {
    return this.o.signer.signBatches(batches);
  }

  /** The protection record refused: stop sending for the epoch (sitting out is never slashable). */
  protected refuse(e: Error): void {
    this.refused = e.message;
    this.o.log.error(
      { epoch: this.o.epoch.toString(), error: e.message },
      "signing refused by the protection record: this worker sends nothing more in the epoch",
    );
  }

  protected deliver(s: Sealed, headers: BatchHeader[], signatures: string[]): void {
    const packed = s.packed ?? encodeDeltas(s.deltas);
    const stored = { content: s.content, packed, signatures: new Map<string, string>() };
    s.lane.sent[Number(s.content.seq)] = stored;
    if (s.headers.some((h) => h.receiver === this.o.me)) this.o.local({ ...s.content, receiver: this.o.me }, s.local);
    headers.forEach((h, i) => {
      stored.signatures.set(h.receiver, signatures[i]);
      this.o.send(h.receiver, {
        kind: "batch",
        batch: { header: h, signature: signatures[i], deltas: s.deltas },
        packed,
      });
    });
    this.stats.sentBatches += 1;
    (this.o.metrics ?? noMetrics).batchSent();
    this.stats.sentDeltas += s.local.length;
  }

  /**
   * The end of the epoch's window (`lastBlock`, final on the source chain): the last batches, an
   * accumulated proof per channel naming `lastBlock`, and a signed end notice to every live member.
   * With `stage` 2, the same for the channels of the graph's second exchange, once this worker's
   * first stage is complete.
   */
  async finish(sourceChainId: bigint, lastBlock: bigint, blockHash: string, stage: 1 | 2 = 1): Promise<void> {
    const lanes = [...this.lanes.values()].filter((l) => l.stage === stage);
    for (const lane of lanes) {
      if (lane.open) this.close(lane);
      this.cut(lane);
    }
    await this.flush();
    this.lastBlock = lastBlock;
    if (!this.refused) {
      for (const lane of lanes) {
        if (lane.sent.length === 0) continue;
        try {
          lane.proof = await this.proof(lane, sourceChainId, lastBlock, blockHash);
        } catch (e) {
          this.refuse(e as Error);
          break;
        }
        for (const r of this.o.holders(lane.shard))
          if (r !== this.o.me && this.o.live(r)) this.o.send(r, { kind: "proof", proof: lane.proof });
      }
    }
    this.finishedStages.add(stage);
    for (const m of this.o.members) if (m !== this.o.me && this.o.live(m)) await this.notify(m, stage);
  }

  protected proof(
    lane: Lane,
    sourceChainId: bigint,
    lastBlock: bigint,
    blockHash: string,
  ): Promise<SignedAccumulatedProof> {
    const last = lane.sent[lane.sent.length - 1].content;
    return this.o.signer.signProof(last, sourceChainId, lastBlock, blockHash);
  }

  /** The signed end notice of exchange `stage` for one receiver: how many batches each of its channels carried. */
  protected async notify(receiver: string, stage: 1 | 2): Promise<void> {
    if (this.refused || this.lastBlock === undefined) return;
    const channels = [...this.lanes.values()]
      .filter(
        (l) =>
          l.stage === stage &&
          // A stopped lane of the second exchange is named nowhere: nobody can compute its times
          // again, so what it carried must not pass for all of it.
          !(l.stage === 2 && l.stopped) &&
          (l.sent.length > 0 || l.declared) &&
          this.o.holders(l.shard).includes(receiver),
      )
      .map((l) => ({ stream: l.stream, shard: l.shard, originShard: l.originShard, batches: BigInt(l.sent.length) }));
    const done = { epoch: this.o.epoch, sender: this.o.me, receiver, lastBlock: this.lastBlock, stage, channels };
    const signature = await this.o.signer.signDone(done);
    this.o.send(receiver, { kind: "done", done: { ...done, signature } });
  }

  /**
   * This worker's own signed headers on channel (stream, originShard, shard), by seq, each as signed
   * for one of its receivers (the content is the same for every receiver).
   */
  signedHeaders(
    stream: string,
    originShard: number,
    shard: number,
  ): ReadonlyMap<bigint, { header: BatchHeader; signature: string }> {
    const out = new Map<bigint, { header: BatchHeader; signature: string }>();
    for (const s of this.lanes.get(laneKey(stream, originShard, shard))?.sent ?? []) {
      const first = s && [...s.signatures][0];
      if (first) out.set(BigInt(s.content.seq), { header: { ...s.content, receiver: first[0] }, signature: first[1] });
    }
    return out;
  }

  /**
   * Answers a receiver's resend request: the batches it asks for that were signed for it, then the
   * channel's proof and the end notice of each exchange that is finished. Returns how many batches went.
   */
  async resend(req: ResendRequest, to: string): Promise<number> {
    let count = 0;
    const asked = new Map(
      req.channels.map((c) => [laneKey(c.stream.toLowerCase(), c.originShard, c.shard), c.fromSeq]),
    );
    for (const lane of this.lanes.values()) {
      if (!this.o.holders(lane.shard).includes(to)) continue;
      const from = Number(asked.get(lane.key) ?? 0n);
      for (let seq = from; seq < lane.sent.length; ++seq) {
        const s = lane.sent[seq];
        const signature = s?.signatures.get(to);
        if (!signature) continue;
        // The wire takes the kept bytes as they are; the deltas are decoded only if something reads
        // them (each read decodes again: nothing on the send path reads them at all).
        const packed = s.packed;
        const batch: SignedBatch = {
          header: { ...s.content, receiver: to },
          signature,
          get deltas() {
            return decodeDeltas(packed);
          },
        };
        this.o.send(to, { kind: "batch", batch, packed });
        count += 1;
      }
      if (lane.proof) this.o.send(to, { kind: "proof", proof: lane.proof });
    }
    for (const stage of this.finishedStages) await this.notify(to, stage);
    return count;
  }
}
