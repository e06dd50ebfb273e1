// Gas of whole staking/epoch transactions (receipt gasUsed), for bench/gas.bench.ts.
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { deployEpochs, KEY_HASH, PARAMS } from "../test/epochs/fixture.js";

export async function measureEpochGas(ethers: HardhatEthers, helpers: NetworkHelpers): Promise<Record<string, number>> {
  const fx = await deployEpochs(ethers);
  const { others, token, epochs } = fx;
  const out: Record<string, number> = {};
  const gas = async (tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>) =>
    Number((await (await tx).wait())!.gasUsed);
  const join = async (w: (typeof others)[number], epoch: number) => {
    await token.mint(w.address, PARAMS.minStake * 10n);
    await token.connect(w).approve(await epochs.getAddress(), PARAMS.minStake * 10n);
    await epochs.connect(w).register(w.address, ethers.toUtf8Bytes("/ip4/127.0.0.1/tcp/9000"));
    return gas(epochs.connect(w).stake(PARAMS.minStake));
  };

  // The first stake ever also pays the zero-to-nonzero writes of the contract's token balance and
  // totalStaked; every later worker's first stake (after registering) is the figure that matters.
  out["staking.stake.firstEver"] = await join(others[0], 1);
  out["staking.stake"] = await join(others[2], 1);
  out["staking.stake.increase"] = await gas(epochs.connect(others[0]).stake(PARAMS.minStake));

  // Commit #1 and commit #10,000 of epoch 1; 9,998 real commits in between from contract workers.
  out["epochs.commit.n1"] = await gas(epochs.connect(others[0]).commit(1));
  const bulk = await ethers.deployContract("BulkWorkers");
  for (let done = 1; done < 9_999;) {
    const count = Math.min(40, 9_999 - done);
    await (
      await bulk.spawn(await epochs.getAddress(), await token.getAddress(), PARAMS.minStake, 1, count, {
        gasLimit: 16_000_000,
      })
    ).wait();
    done += count;
  }
  await join(others[1], 1);
  out["epochs.commit.n10000"] = await gas(epochs.connect(others[1]).commit(1));
  if (Number((await epochs.epochInfo(1)).committed) !== 10_000) throw new Error("expected 10,000 commitments");

  await helpers.time.increaseTo((await epochs.epochInfo(0)).commitDeadline);
  out["epochs.freeze.n10000"] = await gas(epochs.freeze(1));

  // What Chainlink's mock coordinator itself costs per request (it stores the whole request; the
  // real v2.5 coordinator stores one commitment): a request from an EOA consumer, minus the 21,000
  // base and calldata, so that freeze's own share can be read off.
  const { coordinator, subId, admin } = fx;
  await coordinator.addConsumer(subId, admin.address);
  const req = {
    keyHash: KEY_HASH,
    subId,
    requestConfirmations: 3,
    callbackGasLimit: 200_000,
    numWords: 1,
    extraArgs: "0x92fd13380000000000000000000000000000000000000000000000000000000000000000",
  };
  const receipt = (await (await coordinator.requestRandomWords(req)).wait())!;
  const tx = await ethers.provider.getTransaction(receipt.hash);
  const calldata = ethers.getBytes(tx!.data).reduce((g, b) => g + (b === 0 ? 4 : 16), 0);
  out["vrfMock.requestRandomWords.execution"] = Number(receipt.gasUsed) - 21_000 - calldata;
  out["epochs.freeze.n10000.excludingCoordinator"] =
    out["epochs.freeze.n10000"] - out["vrfMock.requestRandomWords.execution"];
  return out;
}
