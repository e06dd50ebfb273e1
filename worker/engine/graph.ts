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

/** Where a source stream's deltas come from: the StreamInbox, or a contract's logs on this chain. */
export type SourceOrigin = { kind: "INBOX" } | { kind: "CHAIN"; chain: ChainSource };

/** A graph ready to run: ids are lower-case bytes32 stream ids. */
export type RunnableGraph = {
  graphHash: string;
  /**
   * The source streams the dataflow reads from the chain, in id order: one INBOX stream, or one or
   * more CHAIN streams of this chain (a join of several sources meets after the exchange).
   */
  sources: string[];
  /** Source stream → where its deltas come from. */
  sourceOf: Map<string, SourceOrigin>;
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
  /**
   * The streams exchanged a second time: outputs of operators after the first exchange that other
   * operators read. Each epoch, once its first stage is complete, the operator emitting such a
   * stream runs once per shard it holds over that shard's whole state (handed over and new), in one
   * order every holder computes; its output goes through the exchange and the replica agreement,
   * and the operators after it compute the graph's output (docs/protocol.md §9).
   */
  stage2: Set<string>;
};

/**
 * Checks that the worker can run `graph` on chain `chainId` and indexes it. The reference worker runs
 * graphs with one INBOX source stream or one or more CHAIN source streams of the chain it runs on,
 * one or two exchanges, and operators with one output stream (the operator ABI emits records to
 * one stream): first-stage operators read one source each; operators after the first exchange read
 * one or more first-stage outputs (a join, of one source or several), all partitioned alike so that
 * matching keys meet at one shard, and emit either the graph's output or a stream exchanged a
 * second time; operators after the second exchange read such streams (partitioned alike) and emit
 * the graph's output. Anything else is a {@link GraphUnsupportedError} that names what to change.
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
  const sourceStreams = graph.streams
    .filter((s) => Number(s.sourceKind) !== SourceKind.DERIVED && consumers.has(lower(s.id)))
    .sort((x, y) => (lower(x.id) < lower(y.id) ? -1 : 1));
  if (sourceStreams.length === 0) {
    throw new GraphUnsupportedError(`The graph has 0 consumed source streams`, {
      fix: "register an INBOX or CHAIN stream and operators that consume it (docs/worker.md)",
    });
  }
  const sourceOf = new Map<string, SourceOrigin>();
  const logsRead = new Map<string, string>();
  for (const s of sourceStreams) {
    if (Number(s.sourceKind) !== SourceKind.CHAIN) {
      // An inbox's times are its indices, which another source's times could equal: the agreement,
      // the input commitments and the jurors tell a time's source by the time alone.
      if (sourceStreams.length > 1)
        throw new GraphUnsupportedError(
          `The graph reads INBOX stream ${s.id} beside ${sourceStreams.length - 1} other source stream(s)`,
          {
            fix: "an INBOX stream must be a graph's only source; several sources must all be CHAIN streams of this chain",
          },
        );
      sourceOf.set(lower(s.id), { kind: "INBOX" });
      continue;
    }
    let chain: ChainSource;
    try {
      chain = chainSourceOf(s);
    } catch (e) {
      throw new GraphUnsupportedError((e as MaruError).shortMessage ?? (e as Error).message, {
        fix: (e as MaruError).fix,
      });
    }
    if (chain.chainId !== chainId)
      throw new GraphUnsupportedError(
        `Stream ${s.id} reads chain ${chain.chainId}; this deployment's FraudProofs judges accumulated proofs on chain ${chainId} only`,
        { fix: "register CHAIN streams of the deployment's own chain (docs/protocol.md §9)" },
      );
    // A log is one delta at its position on the chain: two streams of the same logs would put two
    // deltas at one time.
    const logs = `${chain.emitter.toLowerCase()}|${chain.topic0.toLowerCase()}`;
    const twin = logsRead.get(logs);
    if (twin !== undefined)
      throw new GraphUnsupportedError(
        `Streams ${twin} and ${s.id} read the same logs (${chain.emitter}, topic ${chain.topic0})`,
        {
          fix: "read a contract's event through one CHAIN stream, and let several operators consume it",
        },
      );
    logsRead.set(logs, s.id);
    sourceOf.set(lower(s.id), { kind: "CHAIN", chain });
  }
  const terminal = new Set(operators.map((o) => o.output).filter((s) => !consumers.has(s)));
  const isSource = (x: string) => sourceOf.has(x);
  const firstStage = new Set(operators.filter((o) => o.inputs.some(isSource)).map((o) => o.output));
  // Operators after the first exchange whose output another operator reads: that output is
  // exchanged a second time (docs/protocol.md §9, "A second exchange").
  const middle = operators.filter((o) => !o.inputs.some(isSource) && o.inputs.every((s) => firstStage.has(s)));
  const stage2 = new Set(middle.map((o) => o.output).filter((s) => consumers.has(s)));
  const same = (x: PartitionSpec, y: PartitionSpec) =>
    Number(x.kind) === Number(y.kind) && Number(x.offset) === Number(y.offset) && Number(x.length) === Number(y.length);
  for (const op of operators) {
    if (op.inputs.some(isSource) && op.inputs.length > 1)
      throw new GraphUnsupportedError(`Operator ${op.id} (${op.name}) reads a source stream and other streams`, {
        fix: "a first-stage operator reads one source alone; join first-stage outputs (of one source or several) after the exchange",
      });
    if (isSource(op.input)) continue;
    const later = op.inputs.every((s) => stage2.has(s));
    if (!later) {
      const notFirst = op.inputs.find((s) => !firstStage.has(s));
      if (notFirst !== undefined)
        throw new GraphUnsupportedError(
          op.inputs.some((s) => stage2.has(s))
            ? `Operator ${op.id} (${op.name}) reads streams of two stages (${notFirst} is not exchanged a second time)`
            : `Operator ${op.id} (${op.name}) reads stream ${notFirst}, which no operator on a source or after the first exchange emits`,
          {
            fix: "an operator after the first exchange reads outputs of operators that read a source; one after the second exchange reads outputs of operators after the first",
          },
        );
    } else if (!terminal.has(op.output))
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) is after the second exchange and feeds another operator`,
        {
          fix: "the reference worker exchanges at most two stages: source → operators → (network) → operators → (network) → operators → output",
        },
      );
    const p0 = partitions.get(op.inputs[0])!;
    const other = op.inputs.find((s) => !same(partitions.get(s)!, p0));
    if (other !== undefined)
      throw new GraphUnsupportedError(
        `Operator ${op.id} (${op.name}) joins streams partitioned differently (${op.inputs[0]} and ${other})`,
        { fix: "register a join's inputs with the same partition key, so that matching records meet at one shard" },
      );
  }
  // Only the inputs of the operators right after the first exchange carry state: a stream of the
  // second exchange is computed again in full from that state every epoch, so handing it over too
  // would count it twice.
  const handoffs = new Map<string, string>();
  for (const op of middle)
    for (const input of op.inputs) {
      const h = handoffStreamOf(input);
      handoffs.set(h, input);
      partitions.set(h, partitions.get(input)!);
      consumers.set(h, consumers.get(input)!);
    }
  return {
    graphHash: graph.graphHash,
    sources: [...sourceOf.keys()],
    sourceOf,
    partitions,
    operators,
    consumers,
    terminal,
    handoffs,
    stage2,
  };
}

/** Whether `op` reads a source stream (a first-stage operator: one instance per source shard). */
export const isFirstStage = (graph: RunnableGraph, op: RunnableOperator) => graph.sourceOf.has(op.input);

/** The source streams of `graph` as one key ("|"-joined, in id order): what a source reader reads. */
export const sourcesKey = (graph: RunnableGraph) => graph.sources.join("|");

/** The first-stage operators of `graph`, each with the source stream it reads. */
export const firstStageOf = (graph: RunnableGraph) => graph.operators.filter((op) => isFirstStage(graph, op));

/** Whether `op` runs over whole shard states at the second stage (its output is exchanged again). */
export const isSecondStageSource = (graph: RunnableGraph, op: RunnableOperator) => graph.stage2.has(op.output);
