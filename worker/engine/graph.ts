// The operator graph as the worker runs it: from the graph syncGraph downloaded and hash-checked,
// which stream is the source, which operators consume which stream, and which streams are final
// (kept where they are produced). docs/worker.md.
import type { PartitionSpec } from "../../client/math/sharding.js";
import type { SyncGraphReturnType } from "../../client/registry/syncGraph.js";
import { MaruError } from "../../client/errors/base.js";
import { chainSourceOf, type ChainSource } from "../../client/actions/readChainLogs.js";
import { handoffStreamOf } from "../../client/registry/handoff.js";

/** The graph cannot be run by this worker (it is valid on-chain, but outside what the worker supports). */
export class GraphUnsupportedError extends MaruError {
  override name = "GraphUnsupportedError";
}

/** IOperatorRegistry.SourceKind. */
export const SourceKind = { INBOX: 0, CHAIN: 1, DERIVED: 2 } as const;

export type RunnableOperator = { id: number; name: string; input: string; output: string; bytecode: Uint8Array };

/** A graph ready to run: ids are lower-case bytes32 stream ids. */
export type RunnableGraph = {
  graphHash: string;
  /** The one source stream (INBOX or CHAIN) the dataflow reads from the chain. */
  source: string;
  /** Where the source's deltas come from: the StreamInbox, or a contract's logs on this chain. */
  sourceOf: { kind: "INBOX" } | { kind: "CHAIN"; chain: ChainSource };
  partitions: Map<string, PartitionSpec>;
  operators: RunnableOperator[];
  /** Stream → the operators that consume it. */
  consumers: Map<string, RunnableOperator[]>;
  /** Streams nobody consumes: the dataflow's output, kept by the holders of their shards. */
  terminal: Set<string>;
  /**
   * Handoff stream → the stream whose state it carries (docs/protocol.md §9): the input of every
   * operator after the exchange. Such an operator keeps running state across epochs; its
   * consolidated input moves to the next epoch's holders on the handoff stream, which is
   * partitioned and consumed as its stream.
   */
  handoffs: Map<string, string>;
};

/**
 * Checks that the worker can run `graph` on chain `chainId` and indexes it. The reference worker runs
 * graphs with one source stream (INBOX, or CHAIN on the chain it runs on), and operators with one
 * input and one output stream (the operator ABI emits records to one stream); anything else is a
 * {@link GraphUnsupportedError} that names what to change.
 */
export function compileGraph(graph: SyncGraphReturnType, chainId: bigint): RunnableGraph {
  const lower = (s: string) => s.toLowerCase();
  const partitions = new Map<string, PartitionSpec>();
  for (const s of graph.streams) partitions.set(lower(s.id), s.partition as PartitionSpec);
  const operators: RunnableOperator[] = [];
  for (const op of graph.operators) {
    if (!op || op.status !== "ACTIVE") continue;
    if (op.inputs.length !== 1 || op.outputs.length !== 1) {
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) has ${op.inputs.length} inputs and ${op.outputs.length} outputs`,
        { fix: "the reference worker runs operators with one input and one output stream" },
      );
    }
    operators.push({
      id: op.id,
      name: op.name,
      input: lower(op.inputs[0]),
      output: lower(op.outputs[0]),
      bytecode: op.bytecode!,
    });
  }
  const consumers = new Map<string, RunnableOperator[]>();
  for (const op of operators) consumers.set(op.input, [...(consumers.get(op.input) ?? []), op]);
  const sources = graph.streams.filter(
    (s) => Number(s.sourceKind) !== SourceKind.DERIVED && consumers.has(lower(s.id)),
  );
  if (sources.length !== 1) {
    throw new GraphUnsupportedError(
      `The graph of epoch ${graph.epoch} has ${sources.length} consumed source streams; the reference worker runs one`,
      { fix: "register one INBOX or CHAIN stream and operators that consume it (docs/worker.md)" },
    );
  }
  let sourceOf: RunnableGraph["sourceOf"] = { kind: "INBOX" };
  if (Number(sources[0].sourceKind) === SourceKind.CHAIN) {
    let chain: ChainSource;
    try {
      chain = chainSourceOf(sources[0]);
    } catch (e) {
      throw new GraphUnsupportedError((e as MaruError).shortMessage ?? (e as Error).message, {
        fix: (e as MaruError).fix,
      });
    }
    if (chain.chainId !== chainId)
      throw new GraphUnsupportedError(
        `Stream ${sources[0].id} reads chain ${chain.chainId}; this deployment's FraudProofs judges accumulated proofs on chain ${chainId} only`,
        { fix: "register CHAIN streams of the deployment's own chain (docs/protocol.md §9)" },
      );
    sourceOf = { kind: "CHAIN", chain };
  }
  const terminal = new Set(operators.map((o) => o.output).filter((s) => !consumers.has(s)));
  const source = lower(sources[0].id);
  for (const op of operators) {
    if (op.input !== source && !terminal.has(op.output)) {
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) consumes a derived stream and feeds another operator`,
        {
          fix: "the reference worker exchanges one stage over the network: source → operator → (network) → operator → output",
        },
      );
    }
  }
  const handoffs = new Map<string, string>();
  for (const op of operators) {
    if (op.input === source) continue;
    const h = handoffStreamOf(op.input);
    handoffs.set(h, op.input);
    partitions.set(h, partitions.get(op.input)!);
    consumers.set(h, consumers.get(op.input)!);
  }
  return { graphHash: graph.graphHash, source, sourceOf, partitions, operators, consumers, terminal, handoffs };
}
