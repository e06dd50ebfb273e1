// The agreement asks for a shard's live holders for every time it decides: one object while
// nothing changes, a new one as soon as a holder is ejected (or live again).
import { expect } from "chai";
import { LiveHolders } from "../../worker/engine/liveHolders.js";

describe("worker: the live holders of a shard", function () {
  it("answers with the same object until a holder's liveness changes, then with the holders live now", function () {
    const ejected = new Set<string>();
    const byShard = new Map([
      [0, ["0xa", "0xb"]],
      [1, ["0xb", "0xc"]],
    ]);
    const live = new LiveHolders(
      (s) => byShard.get(s)!,
      (w) => !ejected.has(w),
    );
    const first = live.of(0);
    expect(first).to.deep.equal({ originShard: 0, holders: ["0xa", "0xb"] });
    expect(live.of(0)).to.equal(first);
    expect(live.of(1)).to.deep.equal({ originShard: 1, holders: ["0xb", "0xc"] });
    ejected.add("0xb");
    expect(live.of(0)).to.deep.equal({ originShard: 0, holders: ["0xa"] });
    expect(live.of(1).holders).to.deep.equal(["0xc"]);
    const after = live.of(0);
    expect(live.of(0)).to.equal(after);
    // A holder that is live again (no ejection on final blocks undoes itself, but the cache must not care).
    ejected.delete("0xb");
    expect(live.of(0).holders).to.deep.equal(["0xa", "0xb"]);
    ejected.add("0xa").add("0xb");
    expect(live.of(0).holders).to.deep.equal([]);
  });
});
