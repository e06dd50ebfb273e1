// A first-stage operator run again from the source (worker/engine/replay.ts): what a receiver
// computes itself when replicas disagree. It must emit, for each input's time, exactly what one
// instance run over the same inputs in order emits, including a stateful operator's, across calls
// that ask for later and earlier times, past MAX_BATCH inputs, and while the input list grows; and
// once the operator fails, every later call fails too (the time is then held back, never guessed).
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { MAX_BATCH } from "../../client/batches/types.js";
import type { Delta } from "../../client/math/lthash.js";
import { OperatorHost } from "../../worker/operators/host.js";
import { Replay } from "../../worker/engine/replay.js";

const sample = (n: string) => new Uint8Array(readFileSync(new URL(`../../operators/build/${n}.wasm`, import.meta.url)));
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Keys a, b, c repeating, times 10, 12, 14, …: a keyed running sum emits a retraction and an insertion per input. */
const inputs: Delta[] = Array.from({ length: MAX_BATCH + 40 }, (_, i) => ({
  data: utf8("abc"[i % 3]),
  time: BigInt(10 + 2 * i),
  diff: BigInt(1 + (i % 5)),
}));

describe("worker: a first-stage operator run again from the source", function () {
  this.timeout(60_000);

  it("emits for each time what one instance over the same inputs emits, asked in any order as the inputs grow", async function () {
    const direct = await OperatorHost.start(sample("sum_by_key"));
    const expected = new Map<bigint, Delta[]>();
    try {
      for (let i = 0; i < inputs.length; i += MAX_BATCH) {
        const chunk = inputs.slice(i, i + MAX_BATCH);
        const outs = await direct.process(chunk);
        chunk.forEach((d, j) => expected.set(BigInt(d.time), outs[j]));
      }
    } finally {
      await direct.close();
    }
    const read: Delta[] = inputs.slice(0, 100); // the window read so far
    const replay = await Replay.start(sample("sum_by_key"), { perDeltaMs: 50 }, () => read);
    try {
      const t = (i: number) => BigInt(inputs[i].time);
      expect(await replay.at(t(50))).to.deep.equal(expected.get(t(50)));
      expect(await replay.at(t(3)), "an earlier time, from memory").to.deep.equal(expected.get(t(3)));
      read.push(...inputs.slice(100)); // more of the window is read
      const last = inputs.length - 1;
      expect(await replay.at(t(last)), "past MAX_BATCH inputs").to.deep.equal(expected.get(t(last)));
      expect(await replay.at(11n), "a time no input has").to.deep.equal([]);
      // Stateful: the last input's output carries the running sum of all earlier ones of its key.
      expect(expected.get(t(last))!.length).to.equal(2);
    } finally {
      await replay.close();
    }
  });

  it("fails for good once the operator fails", async function () {
    const read: Delta[] = [
      { data: utf8("echo"), time: 1n, diff: 1n },
      { data: utf8("trap"), time: 2n, diff: 1n },
      { data: utf8("echo"), time: 3n, diff: 1n },
    ];
    const replay = await Replay.start(sample("spin"), { perDeltaMs: 50 }, () => read);
    expect(await replay.at(1n)).to.have.length(1);
    const err = await replay.at(3n).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    const again = await replay.at(1n).catch((e: unknown) => e);
    expect((again as Error).message).to.match(/failed earlier/);
  });
});
