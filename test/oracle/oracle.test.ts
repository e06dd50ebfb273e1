// The block-hash oracle on a real chain node in a separate process (anvil), on real block headers
// (test/tree/fraud.tree): BLOCKHASH, the EIP-2935 history contract, and a parent walk of headers
// the client RLP-encodes, past the history window.
import { expect } from "chai";
import { network } from "hardhat";
import { ancestorWalk, encodeBlockHeader, BlockHeaderError, type RpcBlock } from "../../client/index.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

describe("BlockHashOracle on real headers (anvil)", function () {
  this.timeout(120_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;

  before(async function () {
    // Thousands of blocks: no state is kept beyond the recent ones (the test reads headers and the
    // history contract's current state), so anvil writes none of them to disk.
    node = await startAnvil(["--prune-history"]);
    conn = await network.create({ network: "localhost", override: { url: node.url } });
  });
  after(async () => node?.stop());

  it("encodes headers that hash to the block hash, and refuses a wrong one", async function () {
    const { provider } = conn;
    const raw = (await provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] })) as RpcBlock;
    expect(encodeBlockHeader(raw)).to.match(/^0x/);
    expect(() => encodeBlockHeader({ ...raw, gasUsed: "0x1234" })).to.throw(BlockHeaderError, /does not hash/);
  });

  it("answers recent blocks (BLOCKHASH, EIP-2935), proves older ones by parent walk", async function () {
    const { ethers, provider } = conn;
    const [admin] = await ethers.getSigners();
    const oracle = await ethers.deployContract("BlockHashOracle", [admin.address]);
    const chainId = (await ethers.provider.getNetwork()).chainId;
    const target = BigInt(await ethers.provider.getBlockNumber());
    const targetHash = (await ethers.provider.getBlock(Number(target)))!.hash!;
    await provider.request({ method: "anvil_mine", params: ["0x12c", "0x1"] }); // 300 blocks
    // Past BLOCKHASH's 256 blocks: the history contract answers.
    expect(await oracle.blockHash(chainId, target)).to.equal(targetHash);
    await provider.request({ method: "anvil_mine", params: ["0x1edc", "0x1"] }); // 7900 more: the target leaves the 8191-block window
    await expect(oracle.blockHash(chainId, target)).to.be.revertedWithCustomError(oracle, "OracleUnknownBlock");
    // Walk back from a block the history contract still knows.
    const tip = BigInt(await ethers.provider.getBlockNumber());
    const from = tip - 8_100n; // still in the history window
    expect(from - target).to.be.greaterThan(50n);
    const headers = await ancestorWalk({ send: (m, p) => provider.request({ method: m, params: p }) }, from, target);
    expect(headers).to.have.length(Number(from - target));
    await expect(oracle.proveAncestors(chainId, from, headers))
      .to.emit(oracle, "BlockHashKnown")
      .withArgs(chainId, target, targetHash, false);
    expect(await oracle.blockHash(chainId, target)).to.equal(targetHash);
    // A header out of order is refused with the position.
    const swapped = [headers[0], headers[2], headers[1]];
    await expect(oracle.proveAncestors(chainId, from, swapped)).to.be.revertedWithCustomError(
      oracle,
      "OracleHeaderMismatch",
    );
  });
});
