// Gas of registering an operator through the timelock (receipt gasUsed of execute).
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { id, ZeroHash } from "ethers";
import { deployGovernance, streamSpec as stream } from "../test/registry/fixture.js";

export async function measureRegistryGas(
  ethers: HardhatEthers,
  helpers: NetworkHelpers,
): Promise<Record<string, number>> {
  const [, proposer] = await ethers.getSigners();
  const delay = 2 * 86_400;
  const { timelock, registry } = await deployGovernance(ethers, proposer.address, delay);
  let salt = 0;
  const viaTimelock = async (data: string) => {
    const s = ethers.toBeHex(++salt, 32);
    await (await timelock.connect(proposer).schedule(await registry.getAddress(), 0, data, ZeroHash, s, delay)).wait();
    await helpers.time.increase(delay);
    return (await (await timelock.execute(await registry.getAddress(), 0, data, ZeroHash, s)).wait())!;
  };
  const out: Record<string, number> = {};
  const r1 = await viaTimelock(registry.interface.encodeFunctionData("registerStream", [stream("transfers", 0)]));
  out["registry.registerStream"] = Number(r1.gasUsed);
  await viaTimelock(registry.interface.encodeFunctionData("registerStream", [stream("prices", 0)]));
  await viaTimelock(registry.interface.encodeFunctionData("registerStream", [stream("balances", 2)]));
  const op = {
    name: "balances-reduce",
    version: 1,
    inputs: [id("transfers"), id("prices")],
    outputs: [id("balances")],
    definitionHash: id("definition"),
    bytecodeHash: id("bytecode"),
    definitionTxId: id("def-tx"),
    bytecodeTxId: id("bc-tx"),
  };
  const r2 = await viaTimelock(registry.interface.encodeFunctionData("registerOperator", [op]));
  out["registry.registerOperator"] = Number(r2.gasUsed);
  return out;
}
