// The worker's liveness rule (worker/engine/dataflow.ts notLive) on the cases of
// test/solidity/epochs/Hardening.t.sol, where EpochManager.isEjected answers the same.
import { expect } from "chai";
import { notLive } from "../../worker/chain/liveness.js";

describe("worker: who is a live holder (EpochManager.isEjected)", function () {
  const departedIn1 = new Map([
    [1n, 1n],
    [2n, 1n],
  ]); // MemberDeparted(w, 1): epoch 1's set and epoch 2's

  it("a member that left in epoch 1 is live in 1 and 2, not in carried 3 and later", function () {
    expect(notLive(1n, 1n, [], departedIn1), "its own assignment").to.equal(false);
    expect(notLive(2n, 1n, [], departedIn1), "frozen in the epoch it left").to.equal(false);
    expect(notLive(3n, 1n, [], departedIn1), "carried after it left").to.equal(true);
    expect(notLive(30n, 1n, [], departedIn1), "and every later carried one").to.equal(true);
    expect(notLive(30n, 2n, [], departedIn1), "the next epoch's set, carried").to.equal(true);
  });

  it("a set it did not depart from, or no record, keep it live", function () {
    expect(notLive(7n, 5n, [], departedIn1), "a later set").to.equal(false);
    expect(notLive(5n, 5n, [], departedIn1), "an epoch with a set of its own").to.equal(false);
    expect(notLive(7n, undefined, [], departedIn1), "epoch not seen frozen yet").to.equal(false);
    expect(notLive(7n, 1n, []), "never left").to.equal(false);
  });

  it("a jail ejects from the fault's epoch to its end, and for as long as a set from before it is carried", function () {
    const jail = [{ from: 2n, until: 5n }]; // a fault of epoch 2, jailedUntil 6
    expect(notLive(1n, 1n, jail), "before the fault").to.equal(false);
    expect(notLive(2n, 2n, jail), "the fault's epoch").to.equal(true);
    expect(notLive(5n, 5n, jail), "the jail's last epoch").to.equal(true);
    expect(notLive(6n, 6n, jail), "a set it committed to after the jail").to.equal(false);
    expect(notLive(9n, 2n, jail), "a carried set from before the jail ended").to.equal(true);
    expect(notLive(9n, 6n, jail), "a carried set committed after it").to.equal(false);
  });
});
