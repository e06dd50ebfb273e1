import { expect } from "chai";
import { network } from "hardhat";
import { deployEpochs, PARAMS, requestIdOf } from "./fixture.js";

const { ethers, networkHelpers } = await network.create();

describe("smoke: one epoch cycle", function () {
  it("registers, stakes, commits, freezes, fulfils and advances", async function () {
    const { others, token, coordinator, beacon, epochs } = await deployEpochs(ethers);
    const workers = others.slice(0, 4);
    for (const [i, w] of workers.entries()) {
      await token.mint(w.address, PARAMS.minStake * 2n);
      await token.connect(w).approve(await epochs.getAddress(), PARAMS.minStake * 2n);
      await epochs.connect(w).register(w.address, ethers.toUtf8Bytes(`/ip4/127.0.0.1/tcp/${9000 + i}`));
      await epochs.connect(w).stake(PARAMS.minStake);
      await epochs.connect(w).commit(1);
    }
    const info0 = await epochs.epochInfo(0);
    await networkHelpers.time.increaseTo(info0.commitDeadline);
    await epochs.freeze(1);
    const requestId = await requestIdOf(epochs, 1);
    await coordinator.fulfillRandomWords(requestId, await beacon.getAddress());
    await networkHelpers.time.increaseTo(info0.end);
    await epochs.advance();
    expect(await epochs.currentEpoch()).to.equal(1n);
    expect(await epochs.numWorkers(1)).to.equal(4);
    const [, value] = await beacon.randomnessOf(1);
    expect(await epochs.randomness(1)).to.equal(value);
    for (const [i, w] of workers.entries()) {
      expect(await epochs.workerAt(1, i)).to.equal(w.address);
      expect(await epochs.indexOf(1, w.address)).to.equal(i);
    }
  });
});
