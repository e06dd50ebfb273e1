// The deployment on a real chain node in a separate process (anvil): the Ignition modules with the
// localhost parameters, the addresses book, the post-deploy check, a re-run that changes nothing,
// a check that catches a tampered wiring, and Arbitrum refused.
import { expect } from "chai";
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { deployProtocol, loadParameters, refuseUnsupportedChain, DeployError } from "../../scripts/deploy/lib.js";
import { checkDeployment } from "../../scripts/deploy/checks.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

describe("deploy: Ignition modules on anvil, addresses book, post-deploy check", function () {
  this.timeout(300_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  const deploymentId = `test-${process.pid}-${Date.now()}`;
  const bookFile = join(mkdtempSync(join(tmpdir(), "maru-book-")), "31337.json");

  before(async function () {
    node = await startAnvil();
    conn = await network.create({ network: "localhost", override: { url: node.url } });
  });
  after(async () => {
    await node?.stop();
    rmSync(new URL(`../../deploy/deployments/${deploymentId}`, import.meta.url), { recursive: true, force: true });
  });

  it("deploys, hands every role to the timelock, and passes every check; a re-run changes nothing", async function () {
    const [deployer] = await conn.ethers.getSigners();
    const book = await deployProtocol(conn, { deploymentId, bookFile });
    const checks = await checkDeployment(conn, book, loadParameters("localhost"), deployer.address);
    expect(
      checks.filter((c) => !c.ok),
      "failed checks",
    ).to.deep.equal([]);
    expect(checks.length).to.be.greaterThan(50);

    const blockBefore = await conn.ethers.provider.getBlockNumber();
    const again = await deployProtocol(conn, { deploymentId, bookFile });
    expect(again.contracts).to.deep.equal(book.contracts);
    expect(await conn.ethers.provider.getBlockNumber(), "no transaction on a re-run").to.equal(blockBefore);

    // Tamper through the timelock (impersonated): the check names exactly what is wrong.
    const epochs = await conn.ethers.getContractAt("EpochManager", book.contracts.epochManager);
    await conn.provider.request({ method: "anvil_impersonateAccount", params: [book.contracts.timelock] });
    await conn.provider.request({ method: "anvil_setBalance", params: [book.contracts.timelock, "0xde0b6b3a7640000"] });
    const timelock = await conn.ethers.getSigner(book.contracts.timelock);
    await (await epochs.connect(timelock).setSlasher(deployer.address)).wait();
    const after = await checkDeployment(conn, book, loadParameters("localhost"), deployer.address);
    expect(after.filter((c) => !c.ok).map((c) => c.what)).to.deep.equal(["EpochManager.slasher"]);
  });

  it("refuses Arbitrum, by chain id and by its ArbSys precompile, before sending anything", async function () {
    for (const chainId of [42161, 42170, 421614]) {
      await refuseUnsupportedChain(conn.ethers.provider, chainId).then(
        () => expect.fail(`chain ${chainId} accepted`),
        (e) =>
          expect(e)
            .to.be.instanceOf(DeployError)
            .and.match(/Arbitrum is not supported/),
      );
    }
    // An Arbitrum chain with another id answers ArbSys.arbBlockNumber() at 0x64: make anvil do so.
    const arbSys = "0x0000000000000000000000000000000000000064";
    const returns42 = "0x602a60005260206000f3"; // mstore(0, 42); return(0, 32)
    const blockBefore = await conn.ethers.provider.getBlockNumber();
    await conn.provider.request({ method: "anvil_setCode", params: [arbSys, returns42] });
    try {
      await deployProtocol(conn, { deploymentId: `${deploymentId}-arbitrum`, bookFile }).then(
        () => expect.fail("deployed on a chain with ArbSys"),
        (e) => expect((e as Error).message).to.match(/Arbitrum is not supported .*docs\/deploy\.md#arbitrum/s),
      );
    } finally {
      await conn.provider.request({ method: "anvil_setCode", params: [arbSys, "0x"] });
    }
    expect(await conn.ethers.provider.getBlockNumber(), "nothing sent").to.equal(blockBefore);
    expect(() => loadParameters("arbitrum-sepolia")).to.throw(DeployError, /No parameter file/);
  });

  it("refuses a parameter file with placeholders, naming the line to fix", function () {
    expect(() => loadParameters("sepolia")).to.throw(DeployError, /sepolia\.json5:\d+ is still a placeholder/);
  });
});
