// The inbox source as a worker reads it: its state (count, multiset hash) before a block, and an
// epoch's window of deltas. The dataflow reads the window a tick at a time; a juror and
// `verify-dispute` read a past window at once (../disputes/judge.ts).
import { readInbox, type InboxDelta } from "../../client/actions/readInbox.js";
import type { Protocol } from "../../client/contracts.js";
import { LtHash16 } from "../../client/math/lthash.js";

/** Blocks per inbox read. */
const READ_RANGE = 5_000;

/** The inbox state (count, multiset hash) of `stream` before block `block`, read from the deployment's start. */
export async function inboxStateAt(p: Protocol, stream: string, block: number) {
  let state = { count: 0n, hash: new LtHash16() };
  for (let at = p.book.startBlock; at < block; at += READ_RANGE)
    state = (await readInbox(p, stream, at, Math.min(block - 1, at + READ_RANGE - 1), state)).next;
  return state;
}

/**
 * The source deltas of epoch `epoch`'s window (the blocks from its EpochAdvanced to the block before
 * the next one's), checked against the inbox's digests. The window must be closed (`epoch + 1` begun).
 */
export async function readEpochWindow(
  p: Protocol,
  stream: string,
  epoch: bigint,
): Promise<{ deltas: InboxDelta[]; fromBlock: number; toBlock: number }> {
  const fromBlock = Number(await p.epochs.windowLastBlock(epoch - 1n)) + 1;
  const toBlock = Number(await p.epochs.windowLastBlock(epoch));
  let state = await inboxStateAt(p, stream, fromBlock);
  const deltas: InboxDelta[] = [];
  for (let at = fromBlock; at <= toBlock; at += READ_RANGE) {
    const read = await readInbox(p, stream, at, Math.min(toBlock, at + READ_RANGE - 1), state);
    deltas.push(...read.deltas);
    state = read.next;
  }
  return { deltas, fromBlock, toBlock };
}
