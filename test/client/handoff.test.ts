// The state handoff's ids and times (docs/protocol.md §9): the TypeScript rule is the registry's,
// property by property over random ids, and handoff times never meet a source time.
import { expect } from "chai";
import { network } from "hardhat";
import { hexlify, randomBytes, ZeroAddress } from "ethers";
import { HANDOFF_TIME_BASE, handoffOrigin, handoffStreamOf, handoffTime } from "../../client/index.js";

const { ethers } = await network.create();

describe("state handoff ids and times", function () {
  it("handoffStreamOf is OperatorRegistry.handoffStreamOf for random ids", async function () {
    const registry = await ethers.deployContract("OperatorRegistry", [ZeroAddress]);
    for (let i = 0; i < 64; ++i) {
      const id = hexlify(randomBytes(32));
      expect(handoffStreamOf(id), id).to.equal((await registry.handoffStreamOf(id)).toLowerCase());
    }
  });

  it("a handoff time carries its origin shard and rank, above every source time", function () {
    const maxChainTime = ((1n << 31n) - 1n) * (1n << 32n) + 0xffff_ffffn; // block < 2^31, any log index
    for (const [origin, rank] of [
      [0, 0],
      [1, 5],
      [7, 1_000_000],
      [(1 << 22) - 1, 2 ** 40 - 1],
    ]) {
      const t = handoffTime(origin, rank);
      expect(t > maxChainTime).to.equal(true);
      expect(t < 1n << 64n).to.equal(true);
      expect(handoffOrigin(t)).to.equal(origin);
      expect(t & ((1n << 40n) - 1n)).to.equal(BigInt(rank));
    }
    // Ranks order times within an origin; origins do not interleave.
    expect(handoffTime(3, 1) > handoffTime(3, 0)).to.equal(true);
    expect(handoffTime(4, 0) > handoffTime(3, 2 ** 40 - 1)).to.equal(true);
    expect(handoffOrigin(HANDOFF_TIME_BASE - 1n)).to.equal(undefined);
    expect(handoffOrigin(0n)).to.equal(undefined);
    expect(() => handoffTime(0, 2 ** 40)).to.throw(RangeError);
    expect(() => handoffTime(1 << 22, 0)).to.throw(RangeError);
  });
});
