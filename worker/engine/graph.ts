// The operator graph as the worker runs it: from the graph syncGraph downloaded and hash-checked,
// which stream is the source, which operators consume which stream, and which streams are final
// (kept where they are produced). docs/worker.md.
import type { PartitionSpec } from "../../client/math/sharding.js";
import type { SyncGraphReturnType } from "../../client/registry/syncGraph.js";
import { MaruError } from "../../client/errors/base.js";

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
  /** The one INBOX stream the dataflow reads from the chain. */
  source: string;
  partitions: Map<string, PartitionSpec>;
  operators: RunnableOperator[];
  /** Stream → the operators that consume it. */
  consumers: Map<string, RunnableOperator[]>;
  /** Streams nobody consumes: the dataflow's output, kept by the holders of their shards. */
  terminal: Set<string>;
};

/**
 * Checks that the worker can run `graph` and indexes it. The reference worker runs graphs with one
 * INBOX source, and operators with one input and one output stream (the operator ABI emits records
 * to one stream); anything else is a {@link GraphUnsupportedError} that names what to change.
 */
export function compileGraph(graph: SyncGraphReturnType): RunnableGraph {
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
  const sources = graph.streams.filter((s) => Number(s.sourceKind) === SourceKind.INBOX && consumers.has(lower(s.id)));
  if (sources.length !== 1) {
    throw new GraphUnsupportedError(
      `The graph of epoch ${graph.epoch} has ${sources.length} consumed INBOX streams; the reference worker runs one`,
      { fix: "register one StreamInbox stream and operators that consume it (docs/worker.md)" },
    );
  }
  for (const s of graph.streams) {
    if (Number(s.sourceKind) === SourceKind.CHAIN && consumers.has(lower(s.id))) {
      throw new GraphUnsupportedError(`Stream ${s.id} is a CHAIN source, which the reference worker does not read`);
    }
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
  return { graphHash: graph.graphHash, source, partitions, operators, consumers, terminal };
}
