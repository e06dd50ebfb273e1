// getWorker's scan options are checked before any call: a blockRange of 0 or less would never step
// back from the head (the commitment scan would not end), so it is refused with a typed error.
import { expect } from "chai";
import { InvalidBlockRangeError, getWorker, type Protocol } from "../../client/index.js";

describe("getWorker options", () => {
  // No chain: the options are refused before the contracts are touched.
  const p = {} as Protocol;
  const address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

  for (const [opts, option] of [
    [{ blockRange: 0 }, "blockRange"],
    [{ blockRange: -5 }, "blockRange"],
    [{ blockRange: 1.5 }, "blockRange"],
    [{ blockRange: Number.NaN }, "blockRange"],
    [{ maxBlocks: -1 }, "maxBlocks"],
  ] as const) {
    it(`refuses ${option} ${Object.values(opts)[0]}`, async () => {
      const e = await getWorker(p, address, opts).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).to.be.instanceOf(InvalidBlockRangeError);
      expect((e as InvalidBlockRangeError).option).to.equal(option);
      expect((e as InvalidBlockRangeError).message).to.match(new RegExp(`^Invalid ${option}`));
    });
  }
});
