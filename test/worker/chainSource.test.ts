// A CHAIN source read from a real chain node (anvil, its own process): an ERC-20's Transfer logs, as
// every holder reads them (client/actions/readChainLogs.ts), against ethers' own reading of the
// same logs; and RPCs that drop, change or invent logs, or lie about headers.
import { expect } from "chai";
import { network } from "hardhat";
import { decodeRlp, FetchRequest, hexlify, id, JsonRpcProvider } from "ethers";
import {
  bloomMayContain,
  chainSourceOf,
  chainSourceSpec,
  ChainSourceError,
  logData,
  logLayout,
  logPosition,
  logTime,
  jsonRpc,
  readChainLogs,
  readChainSources,
  rpcOf,
  type ChainSource,
  type Rpc,
} from "../../client/actions/readChainLogs.js";
import { encodeReceipt, receiptsRoot, type RpcReceipt } from "../../client/oracle/receipts.js";
import type { RpcBlock } from "../../client/oracle/headers.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

/** An RPC whose answers to header and receipt requests `change` rewrites (by method). */
function tampered(
  url: string,
  change: {
    headers?: (hs: Array<RpcBlock | null>) => Array<RpcBlock | null>;
    receipts?: (block: number, rs: RpcReceipt[]) => RpcReceipt[];
  },
) {
  const inner = jsonRpc(url);
  const rpc: Rpc = {
    call: (method, params) => inner.call(method, params),
    batch: async (calls) => {
      const answers = await inner.batch(calls);
      if (calls[0]?.[0] === "eth_getBlockByNumber" && change.headers)
        return change.headers(answers as Array<RpcBlock | null>);
      if (calls[0]?.[0] === "eth_getBlockReceipts" && change.receipts)
        return answers.map((a, i) => change.receipts!(Number(calls[i][1][0]), a as RpcReceipt[]));
      return answers;
    },
  };
  return rpc;
}

describe("worker: a CHAIN source (an ERC-20's Transfer logs on anvil)", function () {
  this.timeout(120_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  let source: ChainSource;
  let from: number;
  let to: number;
  let expected: Array<{ time: bigint; data: string }>;
  let approvals: Array<{ time: bigint; data: string }>;
  let approvalSource: ChainSource;
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
    // Approval logs of the token (a second source) between its Transfer logs, and the other token's.
    await token.scatter(8, 5, 1, 2);
    await other.scatter(8, 3, 2, 1);
    // A legacy transaction in the trie too, from another account (anvil orders a block by fee).
    const [, second] = await ethers.getSigners();
    await token.connect(second).scatter(8, 4, 3, 0, { type: 0, gasPrice: 10n ** 9n, gasLimit: 500_000n });
    await provider.request({ method: "evm_mine", params: [] });
    await provider.request({ method: "evm_mine", params: [] });
    emptyBlock = await ethers.provider.getBlockNumber();
    await token.scatter(8, 7, 4, 3);
    await provider.request({ method: "evm_mine", params: [] });
    await provider.request({ method: "evm_setAutomine", params: [true] });
    for (let i = 0; i < 4; ++i) await (await token.scatter(8, 3, 10 + i, 0)).wait();
    // A block with an Approval log and no Transfer: only the second source's bloom bits are in it.
    await (await token.approve(await second.getAddress(), 5)).wait();
    to = await ethers.provider.getBlockNumber();
    const address = await token.getAddress();
    source = chainSourceOf({ ...chainSourceSpec(31337, address, "Transfer(address,address,uint256)") });
    expected = (await token.queryFilter(token.filters.Transfer(), from, to)).map((e) => ({
      time: (BigInt(e.blockNumber) << 32n) | BigInt(e.index),
      data: hexlify(logData(e)),
    }));
    expect(expected).to.have.length(5 + 4 + 7 + 12);
    approvalSource = chainSourceOf({ ...chainSourceSpec(31337, address, "Approval(address,address,uint256)") });
    approvals = (await token.queryFilter(token.filters.Approval(), from, to)).map((e) => ({
      time: (BigInt(e.blockNumber) << 32n) | BigInt(e.index),
      data: hexlify(logData(e)),
    }));
    expect(approvals).to.have.length(3 + 3 + 1);
  });
  after(async () => node?.stop());

  it("reads every log of the emitter and event, in chain order, with its position as its time", async function () {
    const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true });
    // The worker's transport (the node's URL, parsed natively) and an ethers provider's read the same.
    const deltas = await readChainLogs(rpcOf(provider), source, from, to);
    expect(shown(await readChainLogs(provider, source, from, to))).to.deep.equal(expected);
    expect(shown(deltas)).to.deep.equal(expected);
    // A plain URL goes straight to the node; a provider with credentials or headers of its own
    // keeps them (through the provider).
    const keyed = new FetchRequest(node.url);
    keyed.setHeader("x-api-key", "secret");
    const withKey = new JsonRpcProvider(keyed, undefined, { staticNetwork: true });
    let viaProvider = 0;
    const send = withKey.send.bind(withKey);
    withKey.send = (m: string, p: unknown[] | Record<string, unknown>) => ((viaProvider += 1), send(m, p));
    expect(shown(await readChainLogs(rpcOf(withKey), source, from, to))).to.deep.equal(expected);
    expect(viaProvider).to.be.greaterThan(0);
    let plainVia = 0;
    const plainSend = provider.send.bind(provider);
    provider.send = (m: string, p: unknown[] | Record<string, unknown>) => ((plainVia += 1), plainSend(m, p));
    await readChainLogs(rpcOf(provider), source, from, to);
    expect(plainVia, "a plain URL is read without the provider").to.equal(0);
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

  it("reads several sources in one pass over the blocks: each its own logs, in chain order", async function () {
    const rpc = jsonRpc(node.url);
    let receiptCalls = 0;
    const counting: Rpc = {
      call: rpc.call,
      batch: (calls) => {
        receiptCalls += calls.filter(([m]) => m === "eth_getBlockReceipts").length;
        return rpc.batch(calls);
      },
    };
    const [transfers, approved] = await readChainSources(counting, [source, approvalSource], from, to);
    expect(shown(transfers)).to.deep.equal(expected);
    expect(shown(approved)).to.deep.equal(approvals);
    const both = receiptCalls;
    receiptCalls = 0;
    await readChainSources(counting, [source], from, to);
    // Each block's receipts are fetched once for both sources; the approval-only block only for them.
    expect(both).to.equal(receiptCalls + 1);
    // A source listed twice would put two deltas at one time: refused.
    await readChainSources(
      rpc,
      [approvalSource, { ...approvalSource, emitter: approvalSource.emitter.toUpperCase() }],
      from,
      to,
    ).then(
      () => expect.fail("accepted"),
      (e) => {
        expect(e).to.be.instanceOf(ChainSourceError);
        expect((e as Error).message).to.match(/listed twice/);
      },
    );
  });

  it("builds each block's receipts root as its header commits to it (typed and legacy receipts, none at all)", async function () {
    const rpc = jsonRpc(node.url);
    for (let n = from; n <= to; ++n) {
      const header = (await rpc.call("eth_getBlockByNumber", [`0x${n.toString(16)}`, false])) as RpcBlock;
      const receipts = (await rpc.call("eth_getBlockReceipts", [`0x${n.toString(16)}`])) as RpcReceipt[];
      expect(await receiptsRoot(receipts), `block ${n}`).to.equal(header.receiptsRoot);
    }
    const first = (await rpc.call("eth_getBlockReceipts", [`0x${(from + 1).toString(16)}`])) as RpcReceipt[];
    expect(first.map((r) => Number(r.type)).sort()).to.deep.equal([0, 2, 2]);
    // The empty trie's root: keccak256(rlp("")).
    expect(await receiptsRoot([])).to.equal("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
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

  it("refuses an RPC that drops, changes, moves or invents logs, or lies about a header to cover it", async function () {
    const busy = from + 1;
    const edit = (rs: RpcReceipt[], f: (logs: RpcReceipt["logs"]) => RpcReceipt["logs"]) =>
      rs.map((r, i) => (i === 0 ? { ...r, logs: f(r.logs) } : r));
    const cases: Array<[Parameters<typeof tampered>[1], RegExp]> = [
      [{ receipts: (n, rs) => (n === busy ? edit(rs, (ls) => ls.slice(1)) : rs) }, /receipts build root/],
      [
        {
          receipts: (n, rs) =>
            n === busy
              ? edit(rs, (ls) => ls.map((l, i) => (i === 0 ? { ...l, data: `0x${"00".repeat(32)}` } : l)))
              : rs,
        },
        /receipts build root/,
      ],
      [{ receipts: (n, rs) => (n === busy ? rs.slice(1) : rs) }, /receipts build root/],
      [{ receipts: (n, rs) => (n === busy ? [...rs, rs[0]] : rs) }, /receipts build root/],
      // A header made to fit the lie no longer hashes to its hash.
      [
        { headers: (hs) => hs.map((h) => (h && Number(h.number) === busy ? { ...h, receiptsRoot: id("forged") } : h)) },
        /does not hash to its hash/,
      ],
      [
        {
          headers: (hs) =>
            hs.map((h) => (h && Number(h.number) === busy ? { ...h, logsBloom: `0x${"00".repeat(256)}` } : h)),
        },
        /does not hash to its hash/,
      ],
      [{ headers: (hs) => hs.slice(1) }, /answered \d+ of \d+ header requests|has no block/],
      [{ receipts: () => null as unknown as RpcReceipt[] }, /no receipts for block/],
    ];
    for (const [change, message] of cases) {
      let error: unknown;
      await readChainLogs(tampered(node.url, change), source, from, to, { attempts: 1 }).catch((e) => (error = e));
      expect(error, String(message)).to.be.instanceOf(ChainSourceError);
      expect((error as Error).message).to.match(message);
    }
  });

  it("halves a receipts batch the node refuses (a response too large), down to one block", async function () {
    const inner = jsonRpc(node.url);
    let refused = 0;
    const limited: Rpc = {
      call: (m, p) => inner.call(m, p),
      batch: async (c) => {
        if (c[0]?.[0] === "eth_getBlockReceipts" && c.length > 1) {
          refused += 1;
          throw new Error("batch response exceeds the 25 MB limit");
        }
        return inner.batch(c);
      },
    };
    expect(shown(await readChainLogs(limited, source, from, to))).to.deep.equal(expected);
    expect(refused).to.be.greaterThan(0);
  });

  it("refuses headers that do not link (a block of a dropped fork served among canonical ones)", async function () {
    const { provider } = conn;
    const rpc = jsonRpc(node.url);
    const base = Number(await conn.ethers.provider.getBlockNumber());
    const snapshot = await provider.request({ method: "evm_snapshot", params: [] });
    await provider.request({ method: "evm_mine", params: [] });
    const orphan = (await rpc.call("eth_getBlockByNumber", [`0x${(base + 1).toString(16)}`, false])) as RpcBlock;
    await provider.request({ method: "evm_revert", params: [snapshot] });
    await provider.request({ method: "evm_setNextBlockTimestamp", params: [Number(orphan.timestamp) + 7] });
    await provider.request({ method: "evm_mine", params: [] });
    await provider.request({ method: "evm_mine", params: [] });
    const canonical = (await rpc.call("eth_getBlockByNumber", [`0x${(base + 1).toString(16)}`, false])) as RpcBlock;
    expect(canonical.hash).to.not.equal(orphan.hash);
    const mixing = tampered(node.url, {
      headers: (hs) => hs.map((h) => (h && Number(h.number) === base + 1 ? orphan : h)),
    });
    let error: unknown;
    await readChainLogs(mixing, source, base, base + 2, { attempts: 1 }).catch((e) => (error = e));
    expect((error as Error)?.message).to.match(
      new RegExp(`Block ${base + 2}: its parent hash .* is not block ${base + 1}'s hash`),
    );
    // The canonical chain reads.
    expect(await readChainLogs(rpc, source, base + 1, base + 2)).to.deep.equal([]);
  });

  it("retries what fails, with backoff, and says which call gave up", async function () {
    let failures = 2;
    const inner = jsonRpc(node.url);
    const flaky: Rpc = {
      call: (m, p) => inner.call(m, p),
      batch: async (c) => {
        if (failures-- > 0) throw new Error("connection reset");
        return inner.batch(c);
      },
    };
    expect(shown(await readChainLogs(flaky, source, from, to))).to.deep.equal(expected);
    const dead: Rpc = { call: inner.call, batch: async () => Promise.reject(new Error("HTTP 429 Too Many Requests")) };
    let error: unknown;
    await readChainLogs(dead, source, from, to, { attempts: 2 }).catch((e) => (error = e));
    expect((error as Error).message).to.match(
      /eth_getBlockByNumber \d+-\d+ failed 2 times: HTTP 429 Too Many Requests/,
    );
  });

  it("reads the same logs through a node that does not take batches, one request a call", async function () {
    // A proxy to anvil that answers any batch with one error, as JSON-RPC lets a server do.
    const { createServer } = await import("node:http");
    let batchesRefused = 0;
    let singles = 0;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", async () => {
        res.setHeader("content-type", "application/json");
        if (Array.isArray(JSON.parse(body))) {
          batchesRefused += 1;
          res.end(
            JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "batches not supported" } }),
          );
          return;
        }
        singles += 1;
        const answer = await fetch(node.url, { method: "POST", headers: { "content-type": "application/json" }, body });
        res.end(await answer.text());
      });
    }).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const { port } = server.address() as { port: number };
    try {
      const rpc = jsonRpc(`http://127.0.0.1:${port}`);
      expect(shown(await readChainLogs(rpc, source, from, to))).to.deep.equal(expected);
      // Refused once, then one request a call: every block's header, and the receipts of those
      // whose bloom may hold the logs.
      expect(batchesRefused).to.equal(1);
      expect(singles).to.be.above(to - from + 1);
    } finally {
      server.closeAllConnections();
      server.close();
    }
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

  it("lays out an event's fields as a log's data carries them (indexed first; static arrays and tuples inline)", function () {
    const at = (event: string) => Object.fromEntries(logLayout(event).fields.map((f) => [f.name, f.word]));
    expect(at("Transfer(address indexed from, address indexed to, uint256 value)")).to.deep.equal({
      from: 0,
      to: 1,
      value: 2,
    });
    expect(at("E(uint256[2] a, address b)")).to.deep.equal({ a: 0, b: 2 });
    expect(at("E((uint8,address) a, address indexed k, bytes32 c)")).to.deep.equal({ k: 0, a: 1, c: 3 });
    expect(at("E(string indexed s, bytes d, address b)")).to.deep.equal({ s: 0, d: 1, b: 2 });
    expect(logLayout("E(string indexed s, bytes d, address b)")).to.include({ headBytes: 96, dynamic: true });
    expect(logLayout("E(uint256[2] a, address b)")).to.include({ headBytes: 96, dynamic: false });
  });

  it("encodes an OP Stack deposit receipt with its nonce and version from Canyon on, without them before", function () {
    const base = {
      type: "0x7e",
      status: "0x1",
      cumulativeGasUsed: "0x5208",
      logsBloom: `0x${"00".repeat(256)}`,
      logs: [],
    };
    const fields = (r: RpcReceipt) => {
      const bytes = encodeReceipt(r);
      expect(bytes[0]).to.equal(0x7e);
      return decodeRlp(bytes.slice(1)) as string[];
    };
    expect(fields(base)).to.have.length(4);
    const canyon = fields({ ...base, depositNonce: "0x2a", depositReceiptVersion: "0x1" });
    expect(canyon).to.have.length(6);
    expect(canyon.slice(4)).to.deep.equal(["0x2a", "0x01"]);
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
