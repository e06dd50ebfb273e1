// Gas of whole staking/epoch transactions (receipt gasUsed), for bench/gas.bench.ts.
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { deployEpochs, joinWorker, PARAMS } from "../test/epochs/fixture.js";
import { streamSpec } from "../test/registry/fixture.js";

type Signer = Awaited<ReturnType<HardhatEthers["getSigners"]>>[number];

async function gas(tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<number> {
  return Number((await (await tx).wait())!.gasUsed);
}

/** A deployment with `n` real commitments to epoch 1 (n - 2 from contract workers in bulk). */
async function filledEpoch(ethers: HardhatEthers, kind: "mock" | "real", n: number) {
  const fx = await deployEpochs(ethers, PARAMS, kind);
  const { others, token, epochs, admin } = fx;
  // A real registry with one change as the graph source, so freeze pays for pinning (version, hash).
  const registry = await ethers.deployContract("OperatorRegistry", [admin.address]);
  await registry.registerStream(streamSpec("transfers"));
  await epochs.setGraphSource(await registry.getAddress());
  const join = (w: Signer) =>
    gas(
      joinWorker(fx, w, {
        funds: PARAMS.minStake * 10n,
        networkAddress: ethers.toUtf8Bytes("/ip4/127.0.0.1/tcp/9000"),
      }),
    );
  const out: Record<string, number> = {};
  // The first stake ever also pays the zero-to-nonzero writes of the contract's token balance and
  // totalStaked; every later worker's first stake (after registering) is the figure that matters.
  out["staking.stake.firstEver"] = await join(others[0]);
  out["staking.stake"] = await join(others[2]);
  out["staking.stake.increase"] = await gas(epochs.connect(others[0]).stake(PARAMS.minStake));
  out["epochs.commit.n1"] = await gas(epochs.connect(others[0]).commit(1));
  const bulk = await ethers.deployContract("BulkWorkers");
  for (let done = 1; done < n - 1;) {
    const count = Math.min(40, n - 1 - done);
    await (
      await bulk.spawn(await epochs.getAddress(), await token.getAddress(), PARAMS.minStake, 1, count, {
        gasLimit: 16_000_000,
      })
    ).wait();
    done += count;
  }
  await join(others[1]);
  out[`epochs.commit.n${n}`] = await gas(epochs.connect(others[1]).commit(1));
  if (Number((await epochs.epochInfo(1)).committed) !== n) throw new Error(`expected ${n} commitments`);
  return { fx, out };
}

/** Gas of whole staking/epoch transactions (receipt gasUsed). */
export async function measureEpochGas(ethers: HardhatEthers, helpers: NetworkHelpers): Promise<Record<string, number>> {
  // Production: Chainlink's real VRF v2.5 coordinator takes the request.
  const real = await filledEpoch(ethers, "real", 10_000);
  await helpers.time.increaseTo((await real.fx.epochs.epochInfo(0)).commitDeadline);
  const out: Record<string, number> = { ...real.out, "epochs.freeze.n10000": await gas(real.fx.epochs.freeze(1)) };

  // Local chains: the mock coordinator stores the whole request, so freeze costs more there.
  const mock = await filledEpoch(ethers, "mock", 10_000);
  await helpers.time.increaseTo((await mock.fx.epochs.epochInfo(0)).commitDeadline);
  out["epochs.freeze.n10000.vrfMock"] = await gas(mock.fx.epochs.freeze(1));
  return out;
}
