// The source stream as a worker reads it (docs/protocol.md §9): the StreamInbox (checked against its
// per-block digests, so its state before a block is carried along) or a contract's event logs on
// this chain (taken from receipts checked against each block's hash,
// ../../client/actions/readChainLogs.ts). The dataflow reads a tick at a time; a juror and
// `verify-dispute` read a past epoch's window at once (../disputes/judge.ts).
import { readInbox, type InboxDelta } from "../../client/actions/readInbox.js";
import { readChainLogs, rpcOf } from "../../client/actions/readChainLogs.js";
import type { Protocol } from "../../client/contracts.js";
import { LtHash16 } from "../../client/math/lthash.js";
import type { RunnableGraph } from "../engine/graph.js";

/** Blocks per inbox read. */
const READ_RANGE = 5_000;

/** The inbox state (count, multiset hash) of `stream` before block `block`, read from the deployment's start. */
export async function inboxStateAt(p: Protocol, stream: string, block: number) {
  let state = { count: 0n, hash: new LtHash16() };
  for (let at = p.book.startBlock; at < block; at += READ_RANGE)
    state = (await readInbox(p, stream, at, Math.min(block - 1, at + READ_RANGE - 1), state)).next;
  return state;
}

/** What one read brought, and how to take it: `commit` once its deltas are processed (a failure reads them again). */
export type SourceRead = { deltas: InboxDelta[]; commit(): void };

/** A source read forward, block range after block range. */
export type SourceReader = {
  readonly stream: string;
  /** The last block read and committed. */
  readonly readTo: number;
  /** The deltas of the blocks after `readTo` up to `to` (final blocks). */
  read(to: number): Promise<SourceRead>;
};

/** A reader of `graph`'s source from block `fromBlock` on. */
export async function openSource(p: Protocol, graph: RunnableGraph, fromBlock: number): Promise<SourceReader> {
  const stream = graph.source;
  const src = graph.sourceOf;
  if (src.kind === "CHAIN") {
    const rpc = rpcOf(p.epochs.runner!.provider!);
    const reader = {
      stream,
      readTo: fromBlock - 1,
      async read(to: number): Promise<SourceRead> {
        const deltas = await readChainLogs(rpc, src.chain, reader.readTo + 1, to);
        return { deltas, commit: () => void (reader.readTo = to) };
      },
    };
    return reader;
  }
  let state = await inboxStateAt(p, stream, fromBlock);
  const reader = {
    stream,
    readTo: fromBlock - 1,
    async read(to: number): Promise<SourceRead> {
      const { deltas, next } = await readInbox(p, stream, reader.readTo + 1, to, state);
      return {
        deltas,
        commit: () => {
          state = next;
          reader.readTo = to;
        },
      };
    },
  };
  return reader;
}

/**
 * The source deltas of epoch `epoch`'s window (the blocks from its EpochAdvanced to the block before
 * the next one's), checked as the dataflow checks them. The window must be closed (`epoch + 1` begun).
 */
export async function readEpochWindow(
  p: Protocol,
  graph: RunnableGraph,
  epoch: bigint,
): Promise<{ deltas: InboxDelta[]; fromBlock: number; toBlock: number }> {
  const fromBlock = Number(await p.epochs.windowLastBlock(epoch - 1n)) + 1;
  const toBlock = Number(await p.epochs.windowLastBlock(epoch));
  const reader = await openSource(p, graph, fromBlock);
  const deltas: InboxDelta[] = [];
  for (let at = fromBlock; at <= toBlock; at += READ_RANGE) {
    const read = await reader.read(Math.min(toBlock, at + READ_RANGE - 1));
    deltas.push(...read.deltas);
    read.commit();
  }
  return { deltas, fromBlock, toBlock };
}
