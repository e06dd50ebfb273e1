// The batching rule of a channel (docs/protocol.md §6, §12), apart from signing and sending: the
// Outbox cuts its batches with it, and a juror or `verify-dispute` rebuilds a channel's batches
// with it from what the operator should have emitted. One rule in one place, so the two can never
// cut differently.
//
// A channel's deltas come in time order and form time groups. Complete groups are packed greedily:
// a group goes into the batch being filled while that stays within MAX_BATCH deltas and
// MAX_BATCH_BYTES of data, else the batch is cut and the group starts the next one; a group too
// large by itself is cut into pieces that fill whole batches. The window's end cuts what is left.
import { MAX_BATCH } from "../../client/batches/types.js";
import { dataLength, type Delta } from "../../client/math/lthash.js";
import { MAX_BATCH_BYTES } from "../transport/codec.js";

/** Deltas of one time, in the order they were produced. */
export type Group = { time: bigint; deltas: Delta[] };

/** Splits deltas into runs of equal time (operators keep the input's time, so inputs stay grouped). */
export function groupByTime(deltas: Delta[]): Group[] {
  const groups: Group[] = [];
  for (const d of deltas) {
    const t = BigInt(d.time);
    const last = groups[groups.length - 1];
    if (last && last.time === t) last.deltas.push(d);
    else groups.push({ time: t, deltas: [d] });
  }
  return groups;
}

/** The batch being filled on a channel. */
export type Filling = { batch: Delta[]; bytes: number };

/**
 * Packs one complete time group into the batch being filled, calling `cut` whenever the rule cuts
 * (`cut` takes the batch so far and must empty `f`).
 */
export function packGroup(f: Filling, group: Delta[], cut: () => void): void {
  let piece: Delta[] = [];
  let pieceBytes = 0;
  const pieces: Array<[Delta[], number]> = [];
  for (const d of group) {
    const n = dataLength(d);
    if (piece.length > 0 && (piece.length === MAX_BATCH || pieceBytes + n > MAX_BATCH_BYTES)) {
      pieces.push([piece, pieceBytes]);
      piece = [];
      pieceBytes = 0;
    }
    piece.push(d);
    pieceBytes += n;
  }
  if (piece.length > 0) pieces.push([piece, pieceBytes]);
  for (const [part, bytes] of pieces) {
    if (f.batch.length + part.length > MAX_BATCH || f.bytes + bytes > MAX_BATCH_BYTES) cut();
    f.batch.push(...part);
    f.bytes += bytes;
  }
}

/**
 * A whole channel at once, as the Outbox cuts it by the end of the window: its deltas in time
 * order → its batches in seq order.
 * @example
 * ```ts
 * const batches = packChannel(emitted); // batches[seq]
 * ```
 */
export function packChannel(deltas: Delta[]): Delta[][] {
  const batches: Delta[][] = [];
  const f: Filling = { batch: [], bytes: 0 };
  const cut = () => {
    if (f.batch.length > 0) batches.push(f.batch);
    f.batch = [];
    f.bytes = 0;
  };
  for (const g of groupByTime(deltas)) packGroup(f, g.deltas, cut);
  cut();
  return batches;
}
