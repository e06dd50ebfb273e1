// The worker's rule for members that left (MemberDeparted) matches EpochManager.isEjected: the
// cases of test/solidity/epochs/Hardening.t.sol (CarriedMembershipTest), on the pure function.
import { expect } from "chai";
import { departedFrom } from "../../worker/engine/dataflow.js";

describe("worker: departed members of carried epochs", function () {
  it("a member that left in epoch 1 is live in 1 and 2, not in carried 3 and later", function () {
    expect(departedFrom(1n, 1n, 1n), "its own assignment").to.equal(false);
    expect(departedFrom(2n, 1n, 1n), "frozen in the epoch it left").to.equal(false);
    expect(departedFrom(3n, 1n, 1n), "carried after it left").to.equal(true);
    expect(departedFrom(30n, 1n, 1n), "and every later carried one").to.equal(true);
  });

  it("a new assignment, an earlier departure, or no record keep it live", function () {
    expect(departedFrom(5n, 5n, 1n), "an epoch with a set of its own").to.equal(false);
    expect(departedFrom(7n, 5n, 1n), "it left before committing to the assignment carried").to.equal(false);
    expect(departedFrom(7n, 5n, 4n), "left in the epoch it committed in: carried ones after").to.equal(true);
    expect(departedFrom(7n, undefined, 1n), "epoch not seen frozen yet").to.equal(false);
    expect(departedFrom(7n, 5n, undefined), "never left").to.equal(false);
  });
});
