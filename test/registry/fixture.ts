// Shared by the registry tests and the gas benchmark.
import { expect } from "chai";
import { id, ZeroAddress, ZeroHash } from "ethers";
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";

/** A stream spec named `name` (id = keccak256(name)); `kind` 0 INBOX, 2 DERIVED; SLICE(0, 20) keys. */
export function streamSpec(name: string, kind = 0, partition = { kind: 1, offset: 0, length: 20 }) {
  return {
    id: id(name),
    schemaHash: id(`schema:${name}`),
    partition,
    sourceKind: kind,
    sourceChainId: 0,
    sourceDescriptor: ZeroHash,
  };
}

/** Awaits `promise` and checks that it rejected with a message matching `pattern`. */
export async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<Error> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a rejection matching ${pattern}`).to.be.instanceOf(Error);
  expect((error as Error).message).to.match(pattern);
  return error as Error;
}

/** A TimelockController (one proposer, anyone executes, no admin) and an OperatorRegistry it administers. */
export async function deployGovernance(ethers: HardhatEthers, proposer: string, delay: number) {
  const timelock = await ethers.deployContract("TimelockController", [delay, [proposer], [ZeroAddress], ZeroAddress]);
  const registry = await ethers.deployContract("OperatorRegistry", [await timelock.getAddress()]);
  return { timelock, registry };
}
