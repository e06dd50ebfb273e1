// A CHAIN source read from a real chain node (anvil, its own process): an ERC-20's Transfer logs, as
// every holder reads them (client/actions/readChainLogs.ts), against ethers' own reading of the
// same logs; and RPCs that drop, invent or misplace logs, or refuse large ranges.
import { expect } from "chai";
import { network } from "hardhat";
import { getAddress, id, JsonRpcProvider, zeroPadValue, type Filter, type FilterByBlockHash, type Log } from "ethers";
import {
  bloomMayContain,
  chainSourceOf,
  chainSourceSpec,
  ChainSourceError,
  logData,
  logPosition,
  logTime,
  readChainLogs,
  type ChainSource,
} from "../../client/actions/readChainLogs.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

/** An RPC that does what `change` says to eth_getLogs answers. */
class Tampered extends JsonRpcProvider {
  calls: Array<Filter | FilterByBlockHash> = [];
  constructor(
    url: string,
    private readonly change: (filter: Filter | FilterByBlockHash, logs: Log[]) => Log[],
  ) {
    super(url, undefined, { staticNetwork: true });
  }
  override async getLogs(filter: Filter | FilterByBlockHash): Promise<Log[]> {
    this.calls.push(filter);
    return this.change(filter, await super.getLogs(filter));
  }
}

describe("worker: a CHAIN source (an ERC-20's Transfer logs on anvil)", function () {
  this.timeout(120_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  let source: ChainSource;
  let from: number;
  let to: number;
  let expected: Array<{ time: bigint; data: string }>;
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
      data: logData(e),
    }));
    expect(expected).to.have.length(5 + 4 + 7 + 12);
  });
  after(async () => node?.stop());

  it("reads every log of the emitter and event, in chain order, with its position as its time", async function () {
    const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true });
    const deltas = await readChainLogs(provider, source, from, to, { range: 3 });
    expect(deltas.map((d) => ({ time: d.index, data: d.data }))).to.deep.equal(expected);
    for (const d of deltas) {
      expect(d.time).to.equal(d.index);
      expect(d.diff).to.equal(1n);
      expect(logPosition(d.index).blockNumber).to.equal(d.blockNumber);
      // from ‖ to ‖ value: three words, the key (from) in the low 20 bytes of the first.
      expect(String(d.data)).to.have.length(2 + 96 * 2);
    }
    // Same block, increasing log index; one read in pieces equals one read at once.
    expect(deltas.filter((d) => d.blockNumber === deltas[0].blockNumber)).to.have.length(9);
    const halves = [
      ...(await readChainLogs(provider, source, from, emptyBlock)),
      ...(await readChainLogs(provider, source, emptyBlock + 1, to)),
    ];
    expect(halves).to.deep.equal(deltas);
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
    const provider = new Tampered(node.url, (f, logs) =>
      "blockHash" in f && f.blockHash ? logs : logs.filter((l) => l.blockNumber !== dropped),
    );
    const deltas = await readChainLogs(provider, source, from, to);
    expect(deltas.map((d) => ({ time: d.index, data: d.data }))).to.deep.equal(expected);
    expect(provider.calls.some((c) => "blockHash" in c && c.blockHash)).to.equal(true);
  });

  it("refuses an RPC that invents logs, names another block hash, or another contract", async function () {
    const cases: Array<[(logs: Log[]) => Log[], RegExp]> = [
      // A log moved into a block whose bloom holds nothing of the emitter.
      [
        (logs) => [
          ...logs,
          Object.assign(Object.create(Object.getPrototypeOf(logs[0])), logs[0], { blockNumber: emptyBlock, index: 0 }),
        ],
        /does not hold the logs|block hash/,
      ],
      [
        (logs) =>
          logs.map((l, i) =>
            i === 0 ? Object.assign(Object.create(Object.getPrototypeOf(l)), l, { blockHash: id("fork") }) : l,
          ),
        /name block hash/,
      ],
      [
        (logs) =>
          logs.map((l, i) =>
            i === 0
              ? Object.assign(Object.create(Object.getPrototypeOf(l)), l, {
                  address: getAddress(zeroPadValue("0x01", 20)),
                })
              : l,
          ),
        /for a filter on/,
      ],
      [
        (logs) =>
          logs.map((l, i) =>
            i === 0 ? Object.assign(Object.create(Object.getPrototypeOf(l)), l, { removed: true }) : l,
          ),
        /removed log/,
      ],
      [(logs) => [...logs, logs[0]], /twice/],
    ];
    for (const [change, message] of cases) {
      const provider = new Tampered(node.url, (f, logs) => ("blockHash" in f && f.blockHash ? logs : change(logs)));
      let error: unknown;
      await readChainLogs(provider, source, from, to, { attempts: 1 }).catch((e) => (error = e));
      expect(error, String(message)).to.be.instanceOf(ChainSourceError);
      expect((error as Error).message).to.match(message);
    }
  });

  it("halves the range when the RPC refuses it as too large, and retries what fails", async function () {
    let failures = 2;
    const provider = new Tampered(node.url, (f, logs) => logs);
    const inner = provider.getLogs.bind(provider);
    provider.getLogs = async (f: Filter | FilterByBlockHash) => {
      const span = "fromBlock" in f ? Number(f.toBlock) - Number(f.fromBlock) : 0;
      if (span > 2) throw new Error("query exceeds max results 10000, retry with a smaller range");
      if (failures-- > 0) throw new Error("connection reset");
      return inner(f);
    };
    const deltas = await readChainLogs(provider, source, from, to);
    expect(deltas.map((d) => ({ time: d.index, data: d.data }))).to.deep.equal(expected);
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
