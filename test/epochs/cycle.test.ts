// Epoch cycles on the simulated network with Chainlink's VRF v2.5 mock coordinator: what a worker
// sees through JSON-RPC, including the randomness edge cases of docs/protocol.md §2–§3.
import { expect } from "chai";
import { network } from "hardhat";
import { Permutation } from "../../client/index.js";
import { deployEpochs, joinWorker, PARAMS, requestIdOf } from "./fixture.js";
import type { MathHarness } from "../../typechain-types/index.js";

const { ethers, networkHelpers } = await network.create();
const { time, mine } = networkHelpers;

async function setUp() {
  const fx = await deployEpochs(ethers);
  const workers = fx.others.slice(0, 5);
  for (const [i, w] of workers.entries()) {
    await joinWorker(fx, w, {
      funds: PARAMS.minStake * 2n,
      networkAddress: ethers.toUtf8Bytes(`/ip4/127.0.0.1/tcp/${9000 + i}`),
    });
  }
  return { ...fx, workers };
}

async function commitAll(fx: Awaited<ReturnType<typeof setUp>>, epoch: bigint) {
  for (const w of fx.workers) await fx.epochs.connect(w).commit(epoch);
}

async function freezeNext(fx: Awaited<ReturnType<typeof setUp>>) {
  const current = await fx.epochs.currentEpoch();
  await time.increaseTo((await fx.epochs.epochInfo(current)).commitDeadline);
  await fx.epochs.freeze(current + 1n);
  return current + 1n;
}

describe("epoch cycles over JSON-RPC (VRF v2.5 mock coordinator)", function () {
  it("runs three epochs; every worker computes the same holders as the chain", async function () {
    const fx = await setUp();
    const harness = (await ethers.deployContract("MathHarness")) as unknown as MathHarness;
    for (let epoch = 1n; epoch <= 3n; epoch++) {
      await commitAll(fx, epoch);
      await freezeNext(fx);
      await fx.coordinator.fulfillRandomWords(await requestIdOf(fx.epochs, epoch), await fx.beacon.getAddress());
      await time.increaseTo((await fx.epochs.epochInfo(epoch - 1n)).end);
      await fx.epochs.advance();
      expect(await fx.epochs.currentEpoch()).to.equal(epoch);

      const r = await fx.epochs.randomness(epoch);
      const [fulfilled, value] = await fx.beacon.randomnessOf(epoch);
      expect(fulfilled && value === r, "r is the coordinator's value").to.equal(true);
      const n = Number(await fx.epochs.numWorkers(epoch));
      const k = Number(await fx.epochs.replication(epoch));
      expect([n, k]).to.deep.equal([5, 2]);
      const perm = new Permutation(r, n);
      for (let j = 0; j < n; j++) {
        const onChain = (await harness.holders(j, n, k, r, 90)).map(Number);
        expect(perm.holders(j, k)).to.deep.equal(onChain);
        for (const w of perm.holders(j, k)) {
          const addr = await fx.epochs.workerAt(epoch, w);
          expect(await fx.epochs.indexOf(epoch, addr)).to.equal(w);
        }
      }
    }
  });

  it("uses the fallback after the timeout, and a late fulfilment changes nothing", async function () {
    const fx = await setUp();
    await commitAll(fx, 1n);
    await freezeNext(fx);
    const info = await fx.epochs.epochInfo(1n);
    await mine(3);
    const fallbackHash = (await ethers.provider.getBlock(Number(info.fallbackBlock)))!.hash;
    await fx.epochs.recordFallback(1n);
    const start = (await fx.epochs.epochInfo(0n)).end;
    await time.increaseTo(start);
    await expect(fx.epochs.advance()).to.be.revertedWithCustomError(fx.epochs, "EpochRandomnessPending");
    await time.increaseTo(start + BigInt(PARAMS.randomnessTimeout));
    await fx.epochs.advance();
    expect(await fx.epochs.randomness(1n)).to.equal(fallbackHash);
    expect((await fx.epochs.epochInfo(1n)).usedFallback).to.equal(true);

    // The VRF answers epoch 1 after the fact, out of order with epoch 2's request.
    const late1 = await requestIdOf(fx.epochs, 1n);
    await commitAll(fx, 2n);
    await freezeNext(fx);
    const req2 = await requestIdOf(fx.epochs, 2n);
    await fx.coordinator.fulfillRandomWords(req2, await fx.beacon.getAddress());
    await fx.coordinator.fulfillRandomWords(late1, await fx.beacon.getAddress());
    expect(await fx.epochs.randomness(1n)).to.equal(fallbackHash, "epoch 1 keeps its value");
    await time.increaseTo((await fx.epochs.epochInfo(1n)).end);
    await fx.epochs.advance();
    const [, v2] = await fx.beacon.randomnessOf(2n);
    expect(await fx.epochs.randomness(2n)).to.equal(v2, "epoch 2 takes its own request's value");
  });

  it("refuses a fulfilment that does not come from the coordinator", async function () {
    const fx = await setUp();
    await commitAll(fx, 1n);
    await freezeNext(fx);
    const id = await requestIdOf(fx.epochs, 1n);
    await expect(fx.beacon.connect(fx.workers[0]).rawFulfillRandomWords(id, [123n]))
      .to.be.revertedWithCustomError(fx.beacon, "OnlyCoordinatorCanFulfill")
      .withArgs(fx.workers[0].address, await fx.coordinator.getAddress());
    const [fulfilled] = await fx.beacon.randomnessOf(1n);
    expect(fulfilled).to.equal(false);
  });

  it("keeps the previous assignment when fewer than MIN_WORKERS commit", async function () {
    const fx = await setUp();
    await commitAll(fx, 1n);
    await freezeNext(fx);
    await fx.coordinator.fulfillRandomWords(await requestIdOf(fx.epochs, 1n), await fx.beacon.getAddress());
    await time.increaseTo((await fx.epochs.epochInfo(0n)).end);
    await fx.epochs.advance();
    await fx.epochs.connect(fx.workers[0]).commit(2n); // only one
    await time.increaseTo((await fx.epochs.epochInfo(1n)).commitDeadline);
    await expect(fx.epochs.freeze(2n)).to.emit(fx.epochs, "EpochFrozen").withArgs(2n, 5, 2, 0n, 1n, true, 0n, 0n);
    await time.increaseTo((await fx.epochs.epochInfo(1n)).end);
    await fx.epochs.advance();
    expect(await fx.epochs.randomness(2n)).to.equal(await fx.epochs.randomness(1n));
    expect(await fx.epochs.workerAt(2n, 4)).to.equal(fx.workers[4].address);
  });

  it("refuses the commit after MAX_WORKERS (10,000 real commitments)", async function () {
    const fx = await setUp();
    const bulk = await ethers.deployContract("BulkWorkers");
    for (let done = 0; done < 10_000; done += 40) {
      await bulk.spawn(await fx.epochs.getAddress(), await fx.token.getAddress(), PARAMS.minStake, 1, 40, {
        gasLimit: 16_000_000,
      });
    }
    expect((await fx.epochs.epochInfo(1n)).committed).to.equal(10_000n);
    await expect(fx.epochs.connect(fx.workers[0]).commit(1n))
      .to.be.revertedWithCustomError(fx.epochs, "EpochFull")
      .withArgs(10_000);
    // increaseStake tops up like stake.
    await fx.token.mint(fx.workers[0].address, 5n);
    await fx.token.connect(fx.workers[0]).approve(await fx.epochs.getAddress(), 5n);
    await fx.epochs.connect(fx.workers[0]).increaseStake(5n);
    expect((await fx.epochs.stakeOf(fx.workers[0].address)).active).to.equal(PARAMS.minStake + 5n);
  });
});
