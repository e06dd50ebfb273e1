// The Governor path of the CLI end to end on anvil (a separate process): a command with --propose
// creates the proposal; `governor show / vote / queue / execute` follow it through Pending, Active,
// Succeeded, Queued and Executed; the timelock's delay holds execution back; the change lands.
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { id, JsonRpcProvider } from "ethers";
import { listProposals } from "../../scripts/governance/governor.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { gov } from "./gov.js";

describe("gov CLI: the Governor path (propose, vote, queue, execute) on anvil", function () {
  this.timeout(300_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  let dir: string;

  before(async function () {
    node = await startAnvil();
    conn = await network.create({ network: "localhost", override: { url: node.url } });
    dir = await mkdtemp(join(tmpdir(), "maru-gov-governor-"));
  });
  after(async function () {
    await conn?.close();
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("registers a stream by vote, showing each state, after the timelock's delay", async function () {
    const { ethers } = conn;
    const [deployer, voter] = await ethers.getSigners();
    const DELAY = 3_600;
    const token = await ethers.deployContract("MaruVotesToken", [voter.address, 1_000_000n * 10n ** 18n]);
    await (await token.connect(voter).delegate(voter.address)).wait();
    const timelock = await ethers.deployContract("TimelockController", [
      DELAY,
      [],
      [ethers.ZeroAddress],
      deployer.address,
    ]);
    // Voting opens 1 block after the proposal and lasts 10 blocks; quorum 4%.
    const governor = await ethers.deployContract("MaruGovernor", [
      await token.getAddress(),
      await timelock.getAddress(),
      1,
      10,
      0,
      4,
    ]);
    const g = await governor.getAddress();
    await (await timelock.grantRole(await timelock.PROPOSER_ROLE(), g)).wait();
    await (await timelock.grantRole(await timelock.CANCELLER_ROLE(), g)).wait();
    await (await timelock.renounceRole(await timelock.DEFAULT_ADMIN_ROLE(), deployer.address)).wait();
    const registry = await ethers.deployContract("OperatorRegistry", [await timelock.getAddress()]);
    const book = join(dir, "31337.json");
    await writeFile(
      book,
      JSON.stringify({
        chainId: 31337,
        contracts: { timelock: await timelock.getAddress(), registry: await registry.getAddress(), governor: g },
      }),
    );
    const on = ["--network", "localhost", "--rpc-url", node.url, "--addresses", book];
    const mine = (n: number) => conn.provider.request({ method: "anvil_mine", params: [`0x${n.toString(16)}`] });

    // --propose without a description is refused; with one, the voter proposes.
    const stream = ["register-stream", ...on, "--name", "payments", "--schema", "payment(address,uint64)"];
    let r = gov([...stream, "--propose"]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stderr).to.match(/--propose needs --description/);
    r = gov([...stream, "--propose", "--description", "Register the payments stream", "--from", voter.address]);
    expect(r.status, r.out).to.equal(0);
    const proposal = r.stdout.match(/proposed (\d+) to the governor/)![1];
    r = gov(["governor", "show", ...on, "--proposal", proposal]);
    expect(r.stdout, r.out).to.match(new RegExp(`proposal ${proposal}: Pending`));
    expect(r.stdout).to.match(/next: wait for voting to open/);
    // The same proposal again is refused as a duplicate, with its state.
    r = gov([...stream, "--propose", "--description", "Register the payments stream", "--from", voter.address]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/This proposal exists already \(Pending\)/);

    // Votes only while Active; an account without votes is told why.
    r = gov(["governor", "vote", ...on, "--proposal", proposal, "--support", "for", "--from", voter.address]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/is Pending: votes are cast while it is Active/);
    await mine(2);
    r = gov(["governor", "vote", ...on, "--proposal", proposal, "--support", "for", "--from", deployer.address]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/had no votes at the proposal's snapshot/);
    r = gov(["governor", "vote", ...on, "--proposal", proposal, "--support", "for", "--from", voter.address]);
    expect(r.status, r.out).to.equal(0);
    expect(r.stdout).to.match(/Active/);

    // Queue only once Succeeded; then the timelock's delay.
    r = gov(["governor", "queue", ...on, "--proposal", proposal]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/is Active: only a Succeeded proposal is queued/);
    await mine(11);
    r = gov(["governor", "list", ...on]);
    expect(r.stdout, r.out).to.match(
      new RegExp(`${proposal}\\s+Succeeded\\s+1000000000000000000000000\\s+0\\s+Register`),
    );
    r = gov(["governor", "queue", ...on, "--proposal", proposal]);
    expect(r.status, r.out).to.equal(0);
    expect(r.stdout).to.match(/Queued/);
    r = gov(["governor", "execute", ...on, "--proposal", proposal]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/waits in the timelock until/);
    await conn.provider.request({ method: "evm_increaseTime", params: [DELAY] });
    await mine(1);
    r = gov(["governor", "execute", ...on, "--proposal", proposal]);
    expect(r.status, r.out).to.equal(0);
    expect(r.stdout).to.match(new RegExp(`proposal ${proposal}: Executed`));
    expect((await registry.stream(id("payments"))).spec.id).to.equal(id("payments"));
    r = gov(["governor", "show", ...on, "--proposal", proposal, "--json"]);
    expect(JSON.parse(r.stdout)).to.include({ id: proposal, state: "Executed" });

    // The list reads the ProposalCreated events once (it read them again for every proposal, all
    // at once, each a scan from the start block that public RPCs refuse).
    let getLogs = 0;
    class Counting extends JsonRpcProvider {
      override send(method: string, params: unknown[] | Record<string, unknown>) {
        if (method === "eth_getLogs") getLogs++;
        return super.send(method, params);
      }
    }
    const counting = new Counting(node.url, 31337, { staticNetwork: true, batchMaxCount: 1 });
    const listed = await listProposals({ provider: counting, governor: g, log: () => {}, fromBlock: 0 });
    counting.destroy();
    expect(listed.map((p) => [p.id.toString(), p.state])).to.deep.equal([[proposal, "Executed"]]);
    expect(getLogs, "eth_getLogs requests").to.equal(1);
  });
});
