// The testnet proposer: token holders vote; passed proposals queue in the timelock and execute
// registry changes after TIMELOCK_DELAY.
import { expect } from "chai";
import { network } from "hardhat";
import { id } from "ethers";
import { streamSpec } from "./fixture.js";

const { ethers, networkHelpers } = await network.create();

describe("MaruGovernor → TimelockController → OperatorRegistry", function () {
  it("registers a stream by vote, after the timelock delay", async function () {
    const [deployer, voter] = await ethers.getSigners();
    const token = await ethers.deployContract("MaruVotesToken", [voter.address, 1_000_000n * 10n ** 18n]);
    await token.connect(voter).delegate(voter.address);
    const delay = 3_600;
    const timelock = await ethers.deployContract("TimelockController", [
      delay,
      [],
      [ethers.ZeroAddress],
      deployer.address,
    ]);
    const governor = await ethers.deployContract("MaruGovernor", [
      await token.getAddress(),
      await timelock.getAddress(),
      1,
      50,
      0,
      4,
    ]);
    await timelock.grantRole(await timelock.PROPOSER_ROLE(), await governor.getAddress());
    await timelock.grantRole(await timelock.CANCELLER_ROLE(), await governor.getAddress());
    await timelock.renounceRole(await timelock.DEFAULT_ADMIN_ROLE(), deployer.address);
    const registry = await ethers.deployContract("OperatorRegistry", [await timelock.getAddress()]);

    const spec = streamSpec("transfers");
    const calldata = registry.interface.encodeFunctionData("registerStream", [spec]);
    const description = "Register the transfers stream";
    const args: [string[], bigint[], string[]] = [[await registry.getAddress()], [0n], [calldata]];
    await governor.connect(voter).propose(...args, description);
    const proposalId = await governor.hashProposal(...args, id(description));
    await networkHelpers.mine(2);
    await governor.connect(voter).castVote(proposalId, 1);
    await networkHelpers.mine(51);
    await governor.queue(...args, id(description));
    await expect(governor.execute(...args, id(description))).to.be.revert(ethers);
    await networkHelpers.time.increase(delay);
    await governor.execute(...args, id(description));
    expect(await registry.graphVersion()).to.equal(1n);
    expect(await timelock.hasRole(await timelock.DEFAULT_ADMIN_ROLE(), deployer.address)).to.equal(false);
  });
});
