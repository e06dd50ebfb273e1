// The input commitment's prefix hashes: whatever order batches ask in, each answer is the multiset
// hash of exactly that prefix (a running hash forward, kept states for an earlier one).
import { expect } from "chai";
import fc from "fast-check";
import { LtHash16, type Delta } from "../../client/math/lthash.js";
import { PrefixHashes } from "../../worker/engine/prefixHashes.js";

const input = (i: number): Delta => ({
  data: `0x${(i * 7919).toString(16).padStart(8, "0")}`,
  time: BigInt(i),
  diff: 1n + BigInt(i % 3),
});
const direct = (inputs: Delta[], i: number) => new LtHash16().addAll(inputs.slice(0, i + 1)).digest();

describe("worker: prefix hashes of a shard's inputs", function () {
  this.timeout(60_000);

  it("answers every prefix asked for, in any order, while the inputs grow", function () {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.nat(120)), { minLength: 1, maxLength: 25 }),
        (every, asks) => {
          const inputs: Delta[] = [];
          const prefixes = new PrefixHashes(every);
          for (const [grow, at] of asks) {
            for (let j = 0; j < grow; ++j) inputs.push(input(inputs.length));
            if (inputs.length === 0) continue;
            const i = at % inputs.length;
            expect(prefixes.digest(inputs, i), `prefix 0..${i} of ${inputs.length}, every ${every}`).to.equal(
              direct(inputs, i),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("hashes each input once when asked in order", function () {
    const inputs = Array.from({ length: 100 }, (_, i) => input(i));
    const prefixes = new PrefixHashes(32);
    let added = 0;
    const addAll = LtHash16.prototype.addAll;
    LtHash16.prototype.addAll = function (this: LtHash16, ds: Iterable<Delta>) {
      added += [...ds].length;
      return addAll.call(this, ds);
    };
    try {
      for (let i = 0; i < inputs.length; i += 3) prefixes.digest(inputs, i);
      prefixes.digest(inputs, 99);
    } finally {
      LtHash16.prototype.addAll = addAll;
    }
    expect(added).to.equal(100);
    // An earlier prefix starts from the kept state at or below it: at most `every` - 1 more.
    expect(prefixes.digest(inputs, 70)).to.equal(direct(inputs, 70));
  });
});
