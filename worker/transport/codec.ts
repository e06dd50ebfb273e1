// The wire form of the messages workers exchange (docs/worker.md#transport). A fixed binary layout,
// not ABI: a 1 MiB message decodes in about a millisecond (the ABI decoder took seconds on the main
// thread, which a hostile peer could use to stall a worker's event loop), and the fields a receiver
// checks first (kind, epoch, sender) sit at fixed offsets, so `peekMessage` reads them without
// decoding or hashing the payload.
//
//   header   epoch u64 | stream 32 | shard u32 | originShard u32 | sender 20 | receiver 20 | seq u64 |
//            prev 32 | deltasRoot 32 | count u32 | batchMsh 32 | cumulativeMsh 32 | inputMsh 32 |
//            firstTime u64 | lastTime u64                                   (HEADER_BYTES = 276)
//   batch    1 | header (276) | signature (65) | n u32 | n × (len u32 | data | time u64 | diff i64)
//   proof    2 | epoch u64 | stream 32 | shard u32 | originShard u32 | sender 20 | seq u64 |
//                chainId u256 | block u64 | blockHash 32 | cumulativeMsh 32 | signature (65)
//   done     3 | epoch u64 | sender 20 | receiver 20 | lastBlock u64 | stage u8 | signature (65) | n u32 |
//                n × (stream 32 | shard u32 | originShard u32 | batches u64)
//   request  4 | epoch u64 | sender 20 | n u32 | n × (stream 32 | shard u32 | originShard u32 | fromSeq u64)
// A channel is (epoch, stream, shard, originShard, sender → receiver): a sender keeps one channel per
// origin shard, so every message that names a channel names its origin shard too. Integers are
// big-endian; a u32 field that is not an integer in [0, 2^32) is refused when encoding, never
// written as 0. Every length is checked against what is left, so a malformed message is a
// CodecError, never an out-of-bounds read or an allocation the message did not pay for.
import type { BatchHeader, AccumulatedProof } from "../../client/math/eip712.js";
import type { SignedBatch } from "../../client/batches/types.js";
import type { Delta } from "../../client/math/lthash.js";
import type { SignedAccumulatedProof } from "../../client/batches/verifyAccumulatedProof.js";
import { MaruError } from "../../client/errors/base.js";
import { bytesToHex } from "../../client/math/values.js";

/** The largest message a worker accepts or sends (a batch is also cut at MAX_BATCH_BYTES of data). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Data bytes per batch at most, so that a batch always fits in a message with room to spare. */
export const MAX_BATCH_BYTES = 768 * 1024;
/** Channels an end notice or a resend request may name (more is not a message an honest worker sends). */
export const MAX_CHANNELS = 4096;

/**
 * A sender's signed end of an epoch for one receiver: how many batches it sent on each channel to
 * that receiver, so the receiver knows when it has everything. Signed (EIP-712 `EpochDone`) and
 * bound to the connection it came on; it decides how long a receiver waits, never what it accepts.
 */
export type EpochDone = {
  epoch: bigint;
  sender: string;
  receiver: string;
  /** The last source block of the epoch's window. */
  lastBlock: bigint;
  /**
   * Which exchange the notice ends: 1 for the first (and the state handoff), 2 for a graph's second
   * exchange, sent once the sender's first stage is complete (docs/protocol.md §9, §11).
   */
  stage: number;
  /** One entry per channel `(stream, shard, originShard)` the sender opened to the receiver. */
  channels: Array<{ stream: string; shard: number; originShard: number; batches: bigint }>;
  signature: string;
};

/** A receiver asks a sender to send a channel again from `fromSeq` (after a restart or a lost message). */
export type ResendRequest = {
  epoch: bigint;
  /** The worker asking (it must be the authenticated peer's member). */
  sender: string;
  /** The channels `(stream, shard, originShard)` to send again, each from its `fromSeq`. */
  channels: Array<{ stream: string; shard: number; originShard: number; fromSeq: bigint }>;
};

/** What travels between workers. */
export type Message =
  | {
      kind: "batch";
      batch: SignedBatch;
      /**
       * `encodeDeltas(batch.deltas)`, when the sender has it: a batch goes to each holder of its
       * shard and is kept for resends, and is encoded once for all of them. Never set by decoding.
       */
      packed?: Uint8Array;
    }
  | { kind: "proof"; proof: SignedAccumulatedProof }
  | { kind: "done"; done: EpochDone }
  | { kind: "request"; request: ResendRequest };

export const KIND = { batch: 1, proof: 2, done: 3, request: 4 } as const;
type Kind = keyof typeof KIND;
const KIND_NAME: Record<number, Kind> = { 1: "batch", 2: "proof", 3: "done", 4: "request" };

/** A message that is not in the wire form (truncated, an unknown kind, a length past its end). */
export class CodecError extends MaruError {
  override name = "CodecError";
}

const SIG_BYTES = 65;
/** The bytes of an encoded batch header (see the layout at the top). */
export const HEADER_BYTES = 8 + 32 + 4 + 4 + 20 + 20 + 8 + 32 + 32 + 4 + 32 + 32 + 32 + 8 + 8;
/** The bytes of one channel entry of an end notice or a resend request: stream, shard, originShard, u64. */
const CHANNEL_BYTES = 32 + 4 + 4 + 8;

const hex = bytesToHex;
const unhex = (s: string, bytes: number): Buffer => {
  const h = s.startsWith("0x") || s.startsWith("0X") ? s.slice(2) : s;
  if (h.length !== bytes * 2) throw new CodecError(`expected ${bytes} bytes, got ${h.length / 2}`);
  return Buffer.from(h, "hex");
};

class Writer {
  private readonly parts: Buffer[] = [];
  size = 0;
  bytes(b: Buffer) {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  u8(v: number) {
    return this.bytes(Buffer.from([v]));
  }
  u32(v: number | bigint) {
    const n = Number(v);
    // Buffer writes NaN (a missing field) as 0: refuse it, and anything else a u32 cannot hold.
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CodecError(`${String(v)} is not a u32`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return this.bytes(b);
  }
  u64(v: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    return this.bytes(b);
  }
  i64(v: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(v));
    return this.bytes(b);
  }
  u256(v: number | bigint) {
    return this.bytes(unhex(BigInt(v).toString(16).padStart(64, "0"), 32));
  }
  fixed(s: string, n: number) {
    return this.bytes(unhex(s, n));
  }
  done(): Uint8Array {
    return Buffer.concat(this.parts, this.size);
  }
}

class Reader {
  at = 0;
  private readonly b: Buffer;
  constructor(bytes: Uint8Array) {
    this.b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number) {
    if (this.at + n > this.b.length) throw new CodecError(`truncated at byte ${this.at} (needs ${n} more)`);
  }
  raw(n: number): Buffer {
    this.need(n);
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8(): number {
    this.need(1);
    return this.b[this.at++];
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.b.readBigUInt64BE(this.at);
    this.at += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.b.readBigInt64BE(this.at);
    this.at += 8;
    return v;
  }
  u256(): bigint {
    return BigInt(hex(this.raw(32)));
  }
  fixed(n: number): string {
    return hex(this.raw(n));
  }
  /** A count of items of at least `each` bytes: refuses counts the rest of the message cannot hold. */
  count(each: number, max: number): number {
    const n = this.u32();
    if (n > max || n * each > this.b.length - this.at) throw new CodecError(`count ${n} does not fit the message`);
    return n;
  }
  end() {
    if (this.at !== this.b.length) throw new CodecError(`${this.b.length - this.at} trailing bytes`);
  }
}

function writeHeader(w: Writer, h: BatchHeader) {
  w.u64(h.epoch).fixed(h.stream, 32).u32(h.shard).u32(h.originShard).fixed(h.sender, 20).fixed(h.receiver, 20);
  w.u64(h.seq).fixed(h.prev, 32).fixed(h.deltasRoot, 32).u32(h.count).fixed(h.batchMsh, 32);
  w.fixed(h.cumulativeMsh, 32).fixed(h.inputMsh, 32).u64(h.firstTime).u64(h.lastTime);
}

function readHeader(r: Reader): BatchHeader {
  return {
    epoch: r.u64(),
    stream: r.fixed(32),
    shard: r.u32(),
    originShard: r.u32(),
    sender: r.fixed(20),
    receiver: r.fixed(20),
    seq: r.u64(),
    prev: r.fixed(32),
    deltasRoot: r.fixed(32),
    count: r.u32(),
    batchMsh: r.fixed(32),
    cumulativeMsh: r.fixed(32),
    inputMsh: r.fixed(32),
    firstTime: r.u64(),
    lastTime: r.u64(),
  };
}

/**
 * The wire form of a message.
 * @example
 * ```ts
 * transport.send(peer, encodeMessage({ kind: "batch", batch }));
 * ```
 */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer().u8(KIND[m.kind]);
  if (m.kind === "batch") {
    writeHeader(w, m.batch.header);
    w.fixed(m.batch.signature, SIG_BYTES).bytes(toBuffer(m.packed ?? encodeDeltas(m.batch.deltas)));
  } else if (m.kind === "proof") {
    const p: AccumulatedProof = m.proof.proof;
    w.u64(p.epoch).fixed(p.stream, 32).u32(p.shard).u32(p.originShard).fixed(p.sender, 20).u64(p.seq);
    w.u256(p.sourceChainId);
    w.u64(p.blockNumber).fixed(p.blockHash, 32).fixed(p.cumulativeMsh, 32).fixed(m.proof.signature, SIG_BYTES);
  } else if (m.kind === "done") {
    const d = m.done;
    if (d.stage !== 1 && d.stage !== 2) throw new CodecError(`an end notice of stage ${String(d.stage)} (1 or 2)`);
    w.u64(d.epoch).fixed(d.sender, 20).fixed(d.receiver, 20).u64(d.lastBlock).u8(d.stage).fixed(d.signature, SIG_BYTES);
    w.u32(d.channels.length);
    for (const c of d.channels) w.fixed(c.stream, 32).u32(c.shard).u32(c.originShard).u64(c.batches);
  } else {
    const q = m.request;
    w.u64(q.epoch).fixed(q.sender, 20).u32(q.channels.length);
    for (const c of q.channels) w.fixed(c.stream, 32).u32(c.shard).u32(c.originShard).u64(c.fromSeq);
  }
  return w.done();
}

const toBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * A batch's deltas as a batch message carries them: `n u32 | n × (len u32 | data | time u64 | diff
 * i64)`, in one buffer (a delta's fields written in place, not a buffer each). Data is bytes or hex
 * (with or without 0x); a time that is no u64, a diff that is no i64 or data that is not hex is a
 * CodecError.
 * @example
 * ```ts
 * const packed = encodeDeltas(batch.deltas); // once, for every receiver and for resends
 * decodeDeltas(packed); // the deltas again, data as 0x-hex
 * ```
 */
export function encodeDeltas(deltas: readonly Delta[]): Uint8Array {
  let size = 4;
  for (const d of deltas) {
    const x = d.data as string | Uint8Array;
    size += 4 + 8 + 8 + (typeof x === "string" ? (x.length - (x.startsWith("0x") ? 2 : 0)) >> 1 : x.length);
  }
  const b = Buffer.alloc(size);
  b.writeUInt32BE(deltas.length, 0);
  let at = 4;
  for (const d of deltas) {
    const x = d.data as string | Uint8Array;
    let len: number;
    if (typeof x === "string") {
      const h = x.startsWith("0x") ? x.slice(2) : x;
      len = h.length >> 1;
      // Buffer stops at the first character that is not hex: a short write is a malformed delta.
      if (h.length % 2 !== 0 || b.write(h, at + 4, len, "hex") !== len)
        throw new CodecError(`delta data is not hex: ${x.slice(0, 20)}…`);
    } else {
      len = x.length;
      b.set(x, at + 4);
    }
    b.writeUInt32BE(len, at);
    at += 4 + len;
    const time = BigInt(d.time);
    const diff = BigInt(d.diff);
    if (time < 0n || time >= 1n << 64n) throw new CodecError(`${time} is not a u64`);
    if (diff < INT64_MIN || diff > INT64_MAX) throw new CodecError(`${diff} is not an i64`);
    b.writeBigUInt64BE(time, at);
    b.writeBigInt64BE(diff, at + 8);
    at += 16;
  }
  return b;
}

/** The deltas of `encodeDeltas`'s bytes (data as 0x-hex, as a decoded batch carries them). */
export function decodeDeltas(bytes: Uint8Array): Delta[] {
  const r = new Reader(bytes);
  const deltas = readDeltas(r);
  r.end();
  return deltas;
}

function readDeltas(r: Reader): Delta[] {
  const n = r.count(4 + 8 + 8, 1 << 20);
  const deltas = new Array<Delta>(n);
  for (let i = 0; i < n; ++i) {
    const len = r.u32();
    deltas[i] = { data: hex(r.raw(len)), time: r.u64(), diff: r.i64() };
  }
  return deltas;
}

/** Where each kind keeps its epoch and the sender it claims (the sender is bound to the peer). */
const SENDER_AT: Record<Kind, number> = {
  batch: 1 + 8 + 32 + 4 + 4,
  proof: 1 + 8 + 32 + 4 + 4,
  done: 1 + 8,
  request: 1 + 8,
};

/**
 * The kind, epoch and claimed sender of a message, read at fixed offsets without decoding the rest:
 * the checks a receiver makes before it spends anything on a message.
 * @example
 * ```ts
 * const { kind, epoch, sender } = peekMessage(bytes); // then membership, epoch window, peer binding
 * ```
 */
export function peekMessage(bytes: Uint8Array): { kind: Kind; epoch: bigint; sender: string } {
  const kind = KIND_NAME[bytes[0]];
  if (!kind) throw new CodecError(`unknown message kind ${bytes[0]}`);
  const at = SENDER_AT[kind];
  if (bytes.length < at + 20) throw new CodecError(`a ${kind} message of ${bytes.length} bytes is truncated`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { kind, epoch: b.readBigUInt64BE(1), sender: hex(b.subarray(at, at + 20)) };
}

/**
 * Decodes {@link encodeMessage}; throws {@link CodecError} on anything else.
 * @example
 * ```ts
 * const m = decodeMessage(bytes);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  const kind = KIND_NAME[r.raw(1)[0]];
  let m: Message;
  if (kind === "batch") {
    const header = readHeader(r);
    const signature = r.fixed(SIG_BYTES);
    m = { kind, batch: { header, signature, deltas: readDeltas(r) } };
  } else if (kind === "proof") {
    const proof: AccumulatedProof = {
      epoch: r.u64(),
      stream: r.fixed(32),
      shard: r.u32(),
      originShard: r.u32(),
      sender: r.fixed(20),
      seq: r.u64(),
      sourceChainId: r.u256(),
      blockNumber: r.u64(),
      blockHash: r.fixed(32),
      cumulativeMsh: r.fixed(32),
    };
    m = { kind, proof: { proof, signature: r.fixed(SIG_BYTES) } };
  } else if (kind === "done") {
    const epoch = r.u64();
    const sender = r.fixed(20);
    const receiver = r.fixed(20);
    const lastBlock = r.u64();
    const stage = r.u8();
    if (stage !== 1 && stage !== 2) throw new CodecError(`an end notice of stage ${stage} (1 or 2)`);
    const signature = r.fixed(SIG_BYTES);
    const n = r.count(CHANNEL_BYTES, MAX_CHANNELS);
    const channels = Array.from({ length: n }, () => ({
      stream: r.fixed(32),
      shard: r.u32(),
      originShard: r.u32(),
      batches: r.u64(),
    }));
    m = { kind, done: { epoch, sender, receiver, lastBlock, stage, signature, channels } };
  } else if (kind === "request") {
    const epoch = r.u64();
    const sender = r.fixed(20);
    const n = r.count(CHANNEL_BYTES, MAX_CHANNELS);
    const channels = Array.from({ length: n }, () => ({
      stream: r.fixed(32),
      shard: r.u32(),
      originShard: r.u32(),
      fromSeq: r.u64(),
    }));
    m = { kind, request: { epoch, sender, channels } };
  } else {
    throw new CodecError(`unknown message kind ${bytes[0]}`);
  }
  r.end();
  return m;
}
