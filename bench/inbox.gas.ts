// Gas of StreamInbox appends, for bench/gas.bench.ts. The budget is per delta, excluding the
// transaction's 21,000 and its calldata: (gasUsed - 21,000 - calldata gas) / deltas, measured on a
// stream whose state already exists (the first append ever writes 64 fresh words, reported apart).
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { AbiCoder, getBytes, type BytesLike } from "ethers";
import { streamSpec } from "../test/registry/fixture.js";

const coder = AbiCoder.defaultAbiCoder();

/** A transfer-like delta: (from, to, amount) ABI-encoded, 96 bytes. */
function transfer(i: number) {
  const data = coder.encode(
    ["address", "address", "uint256"],
    [
      `0x${(i + 1).toString(16).padStart(40, "0")}`,
      `0x${(i + 7).toString(16).padStart(40, "0")}`,
      BigInt(i) * 10n ** 15n,
    ],
  );
  return { data, time: BigInt(i), diff: 1n };
}

function calldataGas(data: BytesLike): number {
  const bytes = getBytes(data);
  const zeros = bytes.filter((b) => b === 0).length;
  return zeros * 4 + (bytes.length - zeros) * 16;
}

export async function measureInboxGas(ethers: HardhatEthers): Promise<Record<string, number>> {
  const [admin] = await ethers.getSigners();
  const registry = await ethers.deployContract("OperatorRegistry", [admin.address]);
  const spec = streamSpec("transfers", 0, { kind: 0, offset: 0, length: 0 });
  await registry.registerStream(spec);
  const inbox = await ethers.deployContract("StreamInbox", [await registry.getAddress(), admin.address]);
  await inbox.setAppender(spec.id, admin.address, true);
  const out: Record<string, number> = {};
  let next = 0;
  const append = async (n: number) => {
    const deltas = Array.from({ length: n }, () => transfer(next++));
    const tx = await inbox.append(spec.id, deltas);
    const receipt = (await tx.wait())!;
    return { gas: Number(receipt.gasUsed), perDelta: (Number(receipt.gasUsed) - 21_000 - calldataGas(tx.data)) / n };
  };
  out["inbox.append.firstEver.64"] = (await append(64)).gas;
  for (const n of [1, 64, 128, 256]) {
    const { gas, perDelta } = await append(n);
    out[`inbox.append.${n}`] = gas;
    out[`inbox.append.perDelta.${n}`] = Math.round(perDelta);
  }
  return out;
}
