// A CHAIN source read from a real chain node (anvil, its own process): an ERC-20's Transfer logs, as
// every holder reads them (client/actions/readChainLogs.ts), against ethers' own reading of the
// same logs; and RPCs that drop, invent or misplace logs, or refuse large ranges.
import { expect } from "chai";
import { network } from "hardhat";
import { hexlify, id, JsonRpcProvider } from "ethers";
import {
  bloomMayContain,
  chainSourceOf,
  chainSourceSpec,
  ChainSourceError,
  logData,
  logPosition,
  logTime,
  jsonRpc,
  readChainLogs,
  rpcOf,
  type ChainSource,
  type Rpc,
  type RpcLog,
} from "../../client/actions/readChainLogs.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

/** An RPC that does what `change` says to eth_getLogs answers (by range, or by block hash). */
function tampered(url: string, change: (filter: Record<string, string>, logs: RpcLog[]) => RpcLog[]) {
  const inner = jsonRpc(url);
  const calls: Array<Record<string, string>> = [];
  const rpc: Rpc = {
    call: async (method, params) => {
      const answer = await inner.call(method, params);
      if (method !== "eth_getLogs") return answer;
      calls.push(params[0] as Record<string, string>);
      return change(params[0] as Record<string, string>, answer as RpcLog[]);
    },
    batch: (c) => inner.batch(c),
  };
  return { rpc, calls };
}

describe("worker: a CHAIN source (an ERC-20's Transfer logs on anvil)", function () {
  this.timeout(120_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  let source: ChainSource;
  let from: number;
  let to: number;
  let expected: Array<{ time: bigint; data: string }>;
  const shown = (ds: Array<{ index: bigint; data: unknown }>) =>
    ds.map((d) => ({ time: d.index, data: hexlify(d.data as Uint8Array) }));
  let emptyBlock: number;

  before(async function () {
    node = await startAnvil();
    conn = await network.create({ network: "localhost", override: { url: node.url } });
    const { ethers, provider } = conn;
    const token = await ethers.deployContract("LoadToken");
    const other = await ethers.deployContract("LoadToken"); // the same event from another contract
    await (await token.fund(8, 10n ** 15n)).wait();
    await (await other.fund(8, 10n ** 15n)).wait();
    from = await ethers.provider.getBlockNumber();
    // Several transactions in one block, an empty block, and the other token's logs between them.
    await provider.request({ method: "evm_setAutomine", params: [false] });
    await token.scatter(8, 5, 1);
    await other.scatter(8, 3, 2);
    await token.scatter(8, 4, 3);
    await provider.request({ method: "evm_mine", params: [] });
    await provider.request({ method: "evm_mine", params: [] });
    emptyBlock = await ethers.provider.getBlockNumber();
    await token.scatter(8, 7, 4);
    await provider.request({ method: "evm_mine", params: [] });
    await provider.request({ method: "evm_setAutomine", params: [true] });
    for (let i = 0; i < 4; ++i) await (await token.scatter(8, 3, 10 + i)).wait();
    to = await ethers.provider.getBlockNumber();
    const address = await token.getAddress();
    source = chainSourceOf({ ...chainSourceSpec(31337, address, "Transfer(address,address,uint256)") });
    expected = (await token.queryFilter(token.filters.Transfer(), from, to)).map((e) => ({
      time: (BigInt(e.blockNumber) << 32n) | BigInt(e.index),
      data: hexlify(logData(e)),
    }));
    expect(expected).to.have.length(5 + 4 + 7 + 12);
  });
  after(async () => node?.stop());

  it("reads every log of the emitter and event, in chain order, with its position as its time", async function () {
    const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true });
    // The worker's transport (the node's URL, parsed natively) and an ethers provider's read the same.
    const deltas = await readChainLogs(rpcOf(provider), source, from, to, { range: 3 });
    expect(shown(await readChainLogs(provider, source, from, to))).to.deep.equal(expected);
    expect(shown(deltas)).to.deep.equal(expected);
    for (const d of deltas) {
      expect(d.time).to.equal(d.index);
      expect(d.diff).to.equal(1n);
      expect(logPosition(d.index).blockNumber).to.equal(d.blockNumber);
      // from ‖ to ‖ value: three words, the key (from) in the low 20 bytes of the first.
      expect(d.data).to.be.instanceOf(Uint8Array);
      expect((d.data as Uint8Array).length).to.equal(96);
    }
    // Same block, increasing log index; one read in pieces equals one read at once.
    expect(deltas.filter((d) => d.blockNumber === deltas[0].blockNumber)).to.have.length(9);
    const halves = [
      ...(await readChainLogs(jsonRpc(node.url), source, from, emptyBlock)),
      ...(await readChainLogs(jsonRpc(node.url), source, emptyBlock + 1, to)),
    ];
    expect(shown(halves)).to.deep.equal(shown(deltas));
  });

  it("checks what the RPC says against the block headers' blooms", async function () {
    const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true });
    const withLogs = (await provider.send("eth_getBlockByNumber", [`0x${(from + 1).toString(16)}`, false])) as {
      logsBloom: string;
    };
    const empty = (await provider.send("eth_getBlockByNumber", [`0x${emptyBlock.toString(16)}`, false])) as {
      logsBloom: string;
    };
    expect(bloomMayContain(withLogs.logsBloom, source.emitter)).to.equal(true);
    expect(bloomMayContain(withLogs.logsBloom, source.topic0)).to.equal(true);
    expect(bloomMayContain(empty.logsBloom, source.emitter)).to.equal(false);
    expect(bloomMayContain(`0x${"00".repeat(256)}`, source.topic0)).to.equal(false);
  });

  it("catches an RPC that drops a block's logs from a range answer: reads that block again by hash", async function () {
    const dropped = from + 1;
    const { rpc, calls } = tampered(node.url, (f, logs) =>
      f.blockHash ? logs : logs.filter((l) => Number(l.blockNumber) !== dropped),
    );
    expect(shown(await readChainLogs(rpc, source, from, to))).to.deep.equal(expected);
    expect(calls.some((c) => c.blockHash)).to.equal(true);
  });

  it("refuses an RPC that invents logs, names another block hash, or another contract", async function () {
    const cases: Array<[(logs: RpcLog[]) => RpcLog[], RegExp]> = [
      // A log moved into a block whose bloom holds nothing of the emitter.
      [
        (logs) => [...logs, { ...logs[0], blockNumber: `0x${emptyBlock.toString(16)}`, logIndex: "0x0" }],
        /does not hold the logs|block hash/,
      ],
      [(logs) => logs.map((l, i) => (i === 0 ? { ...l, blockHash: id("fork") } : l)), /name block hash/],
      [(logs) => logs.map((l, i) => (i === 0 ? { ...l, address: `0x${"00".repeat(19)}01` } : l)), /for a filter on/],
      [(logs) => logs.map((l, i) => (i === 0 ? { ...l, removed: true } : l)), /removed log/],
      [(logs) => [...logs, logs[0]], /twice/],
    ];
    for (const [change, message] of cases) {
      const { rpc } = tampered(node.url, (f, logs) => (f.blockHash ? logs : change(logs)));
      let error: unknown;
      await readChainLogs(rpc, source, from, to, { attempts: 1 }).catch((e) => (error = e));
      expect(error, String(message)).to.be.instanceOf(ChainSourceError);
      expect((error as Error).message).to.match(message);
    }
  });

  it("halves the range when the RPC refuses it as too large, and retries what fails", async function () {
    let failures = 2;
    const inner = jsonRpc(node.url);
    const rpc: Rpc = {
      call: async (method, params) => {
        const f = params[0] as Record<string, string>;
        if (method === "eth_getLogs" && f.fromBlock && Number(f.toBlock) - Number(f.fromBlock) > 2)
          throw new Error("query exceeds max results 10000, retry with a smaller range");
        if (failures-- > 0) throw new Error("connection reset");
        return inner.call(method, params);
      },
      batch: (c) => inner.batch(c),
    };
    expect(shown(await readChainLogs(rpc, source, from, to))).to.deep.equal(expected);
  });

  it("gives up on a node that does not answer, instead of waiting for ever", async function () {
    // A server that accepts the request and never answers.
    const { createServer } = await import("node:http");
    const server = createServer(() => undefined).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const { port } = server.address() as { port: number };
    try {
      const started = Date.now();
      let error: unknown;
      await readChainLogs(jsonRpc(`http://127.0.0.1:${port}`, 300), source, from, to, { attempts: 2 }).catch(
        (e) => (error = e),
      );
      expect(error).to.be.instanceOf(ChainSourceError);
      expect((error as Error).message).to.match(/failed 2 times/);
      expect(Date.now() - started).to.be.below(5_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("names what is wrong with a registration, and keeps times in order across blocks", function () {
    expect(() => chainSourceSpec(1, "0x1234", "Transfer(address,address,uint256)")).to.throw(
      ChainSourceError,
      /not an address/,
    );
    expect(() => chainSourceSpec(1, source.emitter, "Transfer(")).to.throw(ChainSourceError, /not an event signature/);
    expect(() => chainSourceOf({ sourceChainId: 1n, sourceDescriptor: id("x"), schemaHash: source.topic0 })).to.throw(
      ChainSourceError,
      /left-padded/,
    );
    expect(logTime(5, 2 ** 32 - 1) < logTime(6, 0)).to.equal(true);
    expect(() => logTime(2 ** 32, 0)).to.throw(ChainSourceError, /out of range/);
  });
});
