// The source streams as a worker reads them (docs/protocol.md §9): the StreamInbox (checked against
// its per-block digests, so its state before a block is carried along) or contracts' event logs on
// this chain (taken from receipts checked against each block's hash,
// ../../client/actions/readChainLogs.ts; several CHAIN streams share one read of the blocks). The
// dataflow reads a tick at a time; a juror and `verify-dispute` read a past epoch's window at once
// (../disputes/judge.ts).
import { readInbox, type InboxDelta } from "../../client/actions/readInbox.js";
import { readChainSources, rpcOf, type ChainSource } from "../../client/actions/readChainLogs.js";
import type { Protocol } from "../../client/contracts.js";
import { LtHash16 } from "../../client/math/lthash.js";
import { sourcesKey, type RunnableGraph } from "../engine/graph.js";

/** Blocks per inbox read. */
const READ_RANGE = 5_000;

/** The inbox state (count, multiset hash) of `stream` before block `block`, read from the deployment's start. */
export async function inboxStateAt(p: Protocol, stream: string, block: number) {
  let state = { count: 0n, hash: new LtHash16() };
  for (let at = p.book.startBlock; at < block; at += READ_RANGE)
    state = (await readInbox(p, stream, at, Math.min(block - 1, at + READ_RANGE - 1), state)).next;
  return state;
}

/** A source delta and the source stream it belongs to. */
export type SourceDelta = InboxDelta & { stream: string };

/**
 * What one read brought, in time order, and how to take it: `commit` once its deltas are processed
 * (a failure reads them again).
 */
export type SourceRead = { deltas: SourceDelta[]; commit(): void };

/** A graph's source streams read forward, block range after block range. */
export type SourceReader = {
  /** The source streams, in id order, joined by "|": a graph with other sources needs another reader. */
  readonly streams: string;
  /** The last block read and committed. */
  readonly readTo: number;
  /** The deltas of the blocks after `readTo` up to `to` (final blocks). */
  read(to: number): Promise<SourceRead>;
};

/** A reader of `graph`'s source streams from block `fromBlock` on. */
export async function openSource(p: Protocol, graph: RunnableGraph, fromBlock: number): Promise<SourceReader> {
  const streams = sourcesKey(graph);
  const chains: Array<{ stream: string; chain: ChainSource }> = [];
  for (const stream of graph.sources) {
    const src = graph.sourceOf.get(stream)!;
    if (src.kind === "CHAIN") chains.push({ stream, chain: src.chain });
  }
  if (chains.length === graph.sources.length) {
    const rpc = rpcOf(p.epochs.runner!.provider!);
    const reader = {
      streams,
      readTo: fromBlock - 1,
      async read(to: number): Promise<SourceRead> {
        const lists = await readChainSources(
          rpc,
          chains.map((c) => c.chain),
          reader.readTo + 1,
          to,
        );
        // One list per stream, each in chain order; times (block, log index) are unique on a chain.
        for (const [i, list] of lists.entries()) for (const d of list) (d as SourceDelta).stream = chains[i].stream;
        const deltas = (lists.length === 1 ? lists[0] : lists.flat()) as SourceDelta[];
        if (lists.length > 1) deltas.sort((x, y) => (x.index < y.index ? -1 : x.index > y.index ? 1 : 0));
        return { deltas, commit: () => void (reader.readTo = to) };
      },
    };
    return reader;
  }
  // compileGraph allows an INBOX stream only as a graph's one source.
  if (graph.sources.length !== 1)
    throw new Error(
      `openSource: ${graph.sources.length} source streams with an INBOX among them (compileGraph refuses that)`,
    );
  const stream = graph.sources[0];
  let state = await inboxStateAt(p, stream, fromBlock);
  const reader = {
    streams,
    readTo: fromBlock - 1,
    async read(to: number): Promise<SourceRead> {
      const { deltas, next } = await readInbox(p, stream, reader.readTo + 1, to, state);
      return {
        deltas: deltas.map((d) => Object.assign(d, { stream })),
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
 * The source deltas of epoch `epoch`'s window, of every source stream of `graph` in time order: the
 * blocks from its EpochAdvanced to the block before the next one's, checked as the dataflow checks
 * them. The window must be closed (`epoch + 1` begun).
 */
export async function readEpochWindow(
  p: Protocol,
  graph: RunnableGraph,
  epoch: bigint,
): Promise<{ deltas: SourceDelta[]; fromBlock: number; toBlock: number }> {
  const fromBlock = Number(await p.epochs.windowLastBlock(epoch - 1n)) + 1;
  const toBlock = Number(await p.epochs.windowLastBlock(epoch));
  const reader = await openSource(p, graph, fromBlock);
  const deltas: SourceDelta[] = [];
  for (let at = fromBlock; at <= toBlock; at += READ_RANGE) {
    const read = await reader.read(Math.min(toBlock, at + READ_RANGE - 1));
    deltas.push(...read.deltas);
    read.commit();
  }
  return { deltas, fromBlock, toBlock };
}
