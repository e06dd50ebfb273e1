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

/**
 * An operator as the worker runs it: `inputs` in the registered order (an operator with several
 * gets each delta with its input's number, through the ABI's `processFrom`); `input` is the first.
 */
export type RunnableOperator = {
  id: number;
  name: string;
  input: string;
  inputs: string[];
  output: string;
  bytecode: Uint8Array;
};

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
 * graphs with one source stream (INBOX, or CHAIN on the chain it runs on), one exchange, and
 * operators with one output stream (the operator ABI emits records to one stream): first-stage
 * operators read the source; operators after the exchange read one or more first-stage outputs
 * (a join), all partitioned alike so that matching keys meet at one shard, and emit the graph's
 * output. Anything else is a {@link GraphUnsupportedError} that names what to change.
 */
export function compileGraph(graph: SyncGraphReturnType, chainId: bigint): RunnableGraph {
  const lower = (s: string) => s.toLowerCase();
  const partitions = new Map<string, PartitionSpec>();
  for (const s of graph.streams) partitions.set(lower(s.id), s.partition as PartitionSpec);
  const operators: RunnableOperator[] = [];
  for (const op of graph.operators) {
    if (!op || op.status !== "ACTIVE") continue;
    if (op.outputs.length !== 1) {
      throw new GraphUnsupportedError(`Operator ${op.id} (${op.name}) has ${op.outputs.length} outputs`, {
        fix: "the reference worker runs operators with one output stream (the operator ABI emits to one)",
      });
    }
    const inputs = op.inputs.map(lower);
    operators.push({
      id: op.id,
      name: op.name,
      input: inputs[0],
      inputs,
      output: lower(op.outputs[0]),
      bytecode: op.bytecode!,
    });
  }
  const consumers = new Map<string, RunnableOperator[]>();
  for (const op of operators)
    for (const input of op.inputs) consumers.set(input, [...(consumers.get(input) ?? []), op]);
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
  const firstStage = new Set(operators.filter((o) => o.inputs.includes(source)).map((o) => o.output));
  const same = (x: PartitionSpec, y: PartitionSpec) =>
    Number(x.kind) === Number(y.kind) && Number(x.offset) === Number(y.offset) && Number(x.length) === Number(y.length);
  for (const op of operators) {
    if (op.inputs.includes(source) && op.inputs.length > 1)
      throw new GraphUnsupportedError(`Operator ${op.id} (${op.name}) reads the source stream and other streams`, {
        fix: "a first-stage operator reads the source alone; join first-stage outputs after the exchange",
      });
    if (op.input === source) continue;
    if (!terminal.has(op.output))
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) consumes a derived stream and feeds another operator`,
        {
          fix: "the reference worker exchanges one stage over the network: source → operators → (network) → operators (joins too) → output",
        },
      );
    const notFirst = op.inputs.find((s) => !firstStage.has(s));
    if (notFirst !== undefined)
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) reads stream ${notFirst}, which no operator on the source emits`,
        { fix: "an operator after the exchange reads outputs of operators that read the source" },
      );
    const p0 = partitions.get(op.inputs[0])!;
    const other = op.inputs.find((s) => !same(partitions.get(s)!, p0));
    if (other !== undefined)
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) joins streams partitioned differently (${op.inputs[0]} and ${other})`,
        { fix: "register a join's inputs with the same partition key, so that matching records meet at one shard" },
      );
  }
  const handoffs = new Map<string, string>();
  for (const op of operators) {
    if (op.input === source) continue;
    for (const input of op.inputs) {
      const h = handoffStreamOf(input);
      handoffs.set(h, input);
      partitions.set(h, partitions.get(input)!);
      consumers.set(h, consumers.get(input)!);
    }
  }
  return { graphHash: graph.graphHash, source, sourceOf, partitions, operators, consumers, terminal, handoffs };
}
