// What the worker accepts before it runs anything: the graph it can run, and byzantine modes only
// on local chains.
import { expect } from "chai";
import { id, zeroPadValue, ZeroHash } from "ethers";
import { chainSourceSpec } from "../../client/actions/readChainLogs.js";
import type { SyncGraphReturnType } from "../../client/index.js";
import { compileGraph, firstStageOf, GraphUnsupportedError, isSecondStageSource } from "../../worker/engine/graph.js";
import { handoffStreamOf } from "../../client/registry/handoff.js";
import { byzantineMode } from "../../worker/adversary/modes.js";

const stream = (name: string, sourceKind: number, kind = 0) => ({
  id: id(name),
  schemaHash: id(`schema:${name}`),
  partition: { kind, offset: 0, length: kind === 1 ? 20 : 0 },
  sourceKind,
  sourceChainId: 0n,
  sourceDescriptor: ZeroHash,
  producer: null,
});
const EMITTER = "0x00000000000000000000000000000000000c0ffe";
const chainStream = (name: string, chainId: bigint, descriptor = zeroPadValue(EMITTER, 32)) => ({
  ...stream(name, 1, 1),
  schemaHash: id("Transfer(address,address,uint256)"),
  sourceChainId: chainId,
  sourceDescriptor: descriptor,
});
const op = (i: number, name: string, inputs: string[], outputs: string[]) => ({
  id: i,
  name,
  version: 1,
  inputs: inputs.map((x) => id(x)),
  outputs: outputs.map((x) => id(x)),
  definitionHash: ZeroHash,
  bytecodeHash: ZeroHash,
  definitionTxId: ZeroHash,
  bytecodeTxId: ZeroHash,
  status: "ACTIVE" as const,
  bytecode: new Uint8Array([0]),
});
const graph = (streams: ReturnType<typeof stream>[], operators: ReturnType<typeof op>[]) =>
  ({ epoch: 1n, version: 5n, graphHash: id("g"), streams, operators }) as unknown as SyncGraphReturnType;

describe("worker: the graph it runs and the byzantine guard", function () {
  it("indexes the sample graph: one source, a network stage, a terminal output", function () {
    const g = compileGraph(
      graph(
        [stream("transfers", 0, 1), stream("balance_changes", 2), stream("balances", 2, 1)],
        [op(0, "map", ["transfers"], ["balance_changes"]), op(1, "reduce", ["balance_changes"], ["balances"])],
      ),
      31337n,
    );
    expect(g.sources).to.deep.equal([id("transfers").toLowerCase()]);
    expect(g.sourceOf).to.deep.equal(new Map([[id("transfers").toLowerCase(), { kind: "INBOX" }]]));
    expect([...g.terminal]).to.deep.equal([id("balances").toLowerCase()]);
    expect(g.consumers.get(id("balance_changes").toLowerCase())!.map((o) => o.name)).to.deep.equal(["reduce"]);
    expect(g.partitions.get(id("transfers").toLowerCase())).to.deep.equal({ kind: 1, offset: 0, length: 20 });
  });

  it("indexes a join after the exchange: both inputs consumed, numbered, and handed over across epochs", function () {
    const g = compileGraph(
      graph(
        [
          stream("t", 0, 1),
          stream("changes", 2),
          stream("sends", 2),
          stream("balances", 2, 1),
          stream("activity", 2, 1),
        ],
        [
          op(0, "map", ["t"], ["changes"]),
          op(1, "reduce", ["changes"], ["balances"]),
          op(2, "sends", ["t"], ["sends"]),
          op(3, "join", ["changes", "sends"], ["activity"]),
        ],
      ),
      31337n,
    );
    const lower = (x: string) => id(x).toLowerCase();
    expect(g.consumers.get(lower("changes"))!.map((o) => o.name)).to.deep.equal(["reduce", "join"]);
    expect(g.consumers.get(lower("sends"))!.map((o) => o.name)).to.deep.equal(["join"]);
    expect(g.operators.find((o) => o.name === "join")!.inputs).to.deep.equal([lower("changes"), lower("sends")]);
    expect([...g.terminal].sort()).to.deep.equal([lower("activity"), lower("balances")].sort());
    // Both of the join's inputs carry state from epoch to epoch.
    expect(new Set(g.handoffs.values())).to.deep.equal(new Set([lower("changes"), lower("sends")]));
    for (const [h, x] of g.handoffs) {
      expect(h).to.equal(handoffStreamOf(x));
      expect(g.partitions.get(h)).to.deep.equal(g.partitions.get(x));
      expect(g.consumers.get(h)).to.equal(g.consumers.get(x));
    }
  });

  it("reads a CHAIN source of its own chain: the emitter from the descriptor, the topic from the schema hash", function () {
    const g = compileGraph(
      graph([chainStream("logs", 31337n), stream("b", 2)], [op(0, "map", ["logs"], ["b"])]),
      31337n,
    );
    expect(g.sourceOf.get(id("logs").toLowerCase())).to.deep.equal({
      kind: "CHAIN",
      chain: { chainId: 31337n, emitter: EMITTER, topic0: id("Transfer(address,address,uint256)") },
    });
    // The registry fields gov register-stream writes are the ones the worker reads back.
    const spec = chainSourceSpec(31337, EMITTER, "Transfer(address indexed from, address indexed to, uint256 value)");
    expect(spec.schemaHash).to.equal(id("Transfer(address,address,uint256)"));
    expect(spec.sourceDescriptor).to.equal(zeroPadValue(EMITTER, 32));
  });

  it("joins several CHAIN sources after the exchange: each first stage reads one, in stream id order", function () {
    const approvals = {
      ...chainStream("approval logs", 31337n),
      schemaHash: id("Approval(address,address,uint256)"),
    };
    const g = compileGraph(
      graph(
        [
          chainStream("transfer logs", 31337n),
          approvals,
          stream("changes", 2),
          stream("approved", 2),
          stream("activity", 2, 1),
        ],
        [
          op(0, "map", ["transfer logs"], ["changes"]),
          op(1, "approvals", ["approval logs"], ["approved"]),
          op(2, "join", ["changes", "approved"], ["activity"]),
        ],
      ),
      31337n,
    );
    const lower = (x: string) => id(x).toLowerCase();
    expect(g.sources).to.deep.equal([lower("transfer logs"), lower("approval logs")].sort());
    expect((g.sourceOf.get(lower("approval logs")) as { chain: { topic0: string } }).chain.topic0).to.equal(
      id("Approval(address,address,uint256)"),
    );
    expect(firstStageOf(g).map((o) => o.name)).to.deep.equal(["map", "approvals"]);
    expect(new Set(g.handoffs.values())).to.deep.equal(new Set([lower("changes"), lower("approved")]));
  });

  it("refuses what it cannot run, saying what", function () {
    const cases: Array<[SyncGraphReturnType, RegExp]> = [
      [graph([stream("a", 2)], [op(0, "x", ["a"], ["b"])]), /0 consumed source streams/],
      [
        // An inbox's indices could equal another source's times.
        graph([stream("s", 0), stream("t", 0)], [op(0, "x", ["s"], ["b"]), op(1, "y", ["t"], ["c"])]),
        /reads INBOX stream .* beside 1 other source stream/,
      ],
      [
        graph([stream("s", 0), chainStream("t", 31337n)], [op(0, "x", ["s"], ["b"]), op(1, "y", ["t"], ["c"])]),
        /reads INBOX stream .* beside 1 other source stream\(s\)/,
      ],
      [
        // Two streams of the same logs would put two deltas at one time.
        graph(
          [chainStream("s", 31337n), chainStream("t", 31337n)],
          [op(0, "x", ["s"], ["b"]), op(1, "y", ["t"], ["c"])],
        ),
        /read the same logs/,
      ],
      [graph([stream("s", 0)], [op(0, "two-out", ["s"], ["b", "c"])]), /has 2 outputs/],
      [
        graph(
          [stream("s", 0), stream("b", 2), stream("c", 2)],
          [op(0, "m", ["s"], ["b"]), op(1, "j", ["s", "b"], ["c"])],
        ),
        /reads a source stream and other streams/,
      ],
      [
        // A join whose inputs are keyed differently: matching records would not meet.
        graph(
          [stream("s", 0), stream("b", 2), stream("c", 2, 1), stream("d", 2)],
          [op(0, "m", ["s"], ["b"]), op(1, "n", ["s"], ["c"]), op(2, "j", ["b", "c"], ["d"])],
        ),
        /joins streams partitioned differently/,
      ],
      [
        graph(
          [stream("s", 0), stream("b", 2), stream("c", 2), stream("d", 2), stream("e", 2)],
          [op(0, "m", ["s"], ["b"]), op(1, "n", ["b"], ["c"]), op(2, "o", ["c"], ["d"]), op(3, "p", ["d"], ["e"])],
        ),
        /Operator 2 \(o\) is after the second exchange and feeds another operator/,
      ],
      [
        graph(
          [stream("s", 0), stream("b", 2), stream("c", 2), stream("d", 2)],
          [op(0, "m", ["s"], ["b"]), op(1, "n", ["b"], ["c"]), op(2, "o", ["b", "c"], ["d"])],
        ),
        /Operator 2 \(o\) reads streams of two stages/,
      ],
      [
        graph([chainStream("s", 1n), stream("b", 2)], [op(0, "x", ["s"], ["b"])]),
        /reads chain 1; this deployment's FraudProofs judges accumulated proofs on chain 31337 only/,
      ],
      [
        graph([chainStream("s", 31337n, id("not an address")), stream("b", 2)], [op(0, "x", ["s"], ["b"])]),
        /is not an address left-padded to 32 bytes/,
      ],
    ];
    for (const [g, message] of cases) {
      expect(() => compileGraph(g, 31337n)).to.throw(GraphUnsupportedError, message);
    }
  });

  it("indexes a second exchange: the stream it carries, state only before it, the operators after it", function () {
    const lower = (x: string) => id(x).toLowerCase();
    const g = compileGraph(
      graph(
        [
          stream("t", 0, 1),
          stream("changes", 2),
          stream("balances", 2, 1),
          stream("buckets", 2, 1),
          stream("histogram", 2, 1),
        ],
        [
          op(0, "map", ["t"], ["changes"]),
          op(1, "reduce", ["changes"], ["balances"]),
          op(2, "bucket", ["changes"], ["buckets"]),
          op(3, "count", ["buckets"], ["histogram"]),
        ],
      ),
      31337n,
    );
    expect([...g.stage2]).to.deep.equal([lower("buckets")]);
    expect([...g.terminal].sort()).to.deep.equal([lower("balances"), lower("histogram")].sort());
    // Only the first exchange's stream carries state: the second is computed again from it.
    expect([...g.handoffs.values()]).to.deep.equal([lower("changes")]);
    expect(g.consumers.get(lower("buckets"))!.map((o) => o.name)).to.deep.equal(["count"]);
    expect(g.operators.filter((o) => isSecondStageSource(g, o)).map((o) => o.name)).to.deep.equal(["bucket"]);
    // A graph of one exchange has none.
    const one = compileGraph(
      graph(
        [stream("t", 0, 1), stream("changes", 2), stream("balances", 2, 1)],
        [op(0, "map", ["t"], ["changes"]), op(1, "reduce", ["changes"], ["balances"])],
      ),
      31337n,
    );
    expect(one.stage2.size).to.equal(0);
  });

  it("refuses byzantine modes on any chain that is not a local development chain", function () {
    expect(byzantineMode(undefined, 1)).to.equal(undefined);
    expect(byzantineMode("misroute", 31337)).to.equal("misroute");
    expect(byzantineMode("withhold", 1337)).to.equal("withhold");
    for (const chain of [1, 11155111, 84532, 421614]) {
      expect(() => byzantineMode("misroute", chain)).to.throw(/--byzantine is refused on chain/);
    }
    expect(() => byzantineMode("lie", 31337)).to.throw(/Unknown byzantine mode "lie"/);
  });
});
