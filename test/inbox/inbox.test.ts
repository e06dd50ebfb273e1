// StreamInbox against the TypeScript side (docs/protocol.md §9): a worker rebuilds a stream from the
// Appended events alone and gets the digest the contract checkpointed, for random appends.
import { expect } from "chai";
import fc from "fast-check";
import { network } from "hardhat";
import { hexlify } from "ethers";
import { LtHash16, type Delta } from "../../client/index.js";
import { streamSpec } from "../registry/fixture.js";

const { ethers } = await network.create();
const RUNS = Number(process.env.FAST_CHECK_RUNS ?? 100) >= 250 ? 20 : 8;

describe("StreamInbox and the client's LtHash", function () {
  this.timeout(300_000);

  it("the events rebuild the stream: same multiset, same digest, every checkpoint", async function () {
    const [admin, feeder] = await ethers.getSigners();
    const registry = await ethers.deployContract("OperatorRegistry", [admin.address]);
    const spec = streamSpec("transfers", 0, { kind: 0, offset: 0, length: 0 });
    await registry.registerStream(spec);
    const inbox = await ethers.deployContract("StreamInbox", [await registry.getAddress(), admin.address]);
    await inbox.setAppender(spec.id, feeder.address, true);
    const delta = fc.record({
      data: fc.uint8Array({ minLength: 0, maxLength: 80 }).map((b) => hexlify(b)),
      time: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      diff: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    });
    const expected = new LtHash16();
    let count = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(delta, { minLength: 1, maxLength: 12 }), async (deltas: Delta[]) => {
        const receipt = (await (await inbox.connect(feeder).append(spec.id, deltas)).wait())!;
        expected.addAll(deltas);
        count += deltas.length;
        // What a worker does: decode the event, add its deltas, compare with the checkpoint.
        const [event] = receipt.logs.map((l) => inbox.interface.parseLog(l)!).filter((e) => e.name === "Appended");
        const rebuilt = new LtHash16().addAll(
          event.args.deltas.map((d: Delta) => ({ data: d.data, time: d.time, diff: d.diff })),
        );
        expect(rebuilt.digest()).to.equal(new LtHash16().addAll(deltas).digest());
        expect(event.args.digest).to.equal(expected.digest());
        expect(await inbox.digestAt(spec.id, receipt.blockNumber)).to.equal(expected.digest());
        const [n, , head] = await inbox.head(spec.id);
        expect(n).to.equal(BigInt(count));
        expect(head).to.equal(expected.digest());
      }),
      { numRuns: RUNS },
    );
    expect(hexlify(expected.toBytes())).to.equal(await inbox.stateOf(spec.id));
  });
});
