// The client's dispute helpers against the court itself (simulated chain): the same commitment
// for random votes, the same dispute id as the court emits, the order and refusals of
// conflictOrder, and a juror salt a restarted worker derives again from its key alone.
import { expect } from "chai";
import fc from "fast-check";
import { network } from "hardhat";
import { Wallet, hexlify, id } from "ethers";
import {
  conflictOrder,
  disputeId,
  DisputeSide,
  jurorSalt,
  NotAConflictError,
  Permutation,
  protocolDomain,
  voteCommitment,
} from "../../client/index.js";
import { conflictHeader, deployFraudEpoch, type FraudEpoch } from "../slashing/fixture.js";
import type { ExecutionDisputes } from "../../typechain-types/index.js";
import { bytes32, RUNS } from "../math/arbitraries.js";

const { ethers, networkHelpers } = await network.create();

describe("client: execution disputes, as the court computes them", function () {
  this.timeout(300_000);
  let s: FraudEpoch;
  let court: ExecutionDisputes;

  before(async () => {
    s = await deployFraudEpoch(ethers, networkHelpers, 4);
    court = (await ethers.getContractAt("ExecutionDisputes", await s.fraud.disputes())) as unknown as ExecutionDisputes;
  });

  it("commits to the same vote: voteCommitment for random ids, indices, sides and salts", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.constantFrom(DisputeSide.A, DisputeSide.B, DisputeSide.NEITHER),
        bytes32,
        async (disputeIdValue, index, side, salt) => {
          expect(voteCommitment(disputeIdValue, index, side, salt)).to.equal(
            await court.voteCommitment(disputeIdValue, index, side, salt),
          );
        },
      ),
      { numRuns: Math.min(RUNS, 100) },
    );
  });

  it("orders a conflict as the court takes it, names the dispute as the court does, and refuses what is no conflict", async () => {
    const perm = new Permutation(s.r, s.n);
    const origin = [...Array(s.n).keys()].find((j) => perm.holders(j, 2).every((i) => i < 4))!;
    const [h0, h1] = perm.holders(origin, 2);
    const receiver = s.workers[[0, 1, 2, 3].find((i) => i !== h0 && i !== h1)!];
    const right = await s.sign(
      conflictHeader(s, h0, origin, receiver.address, [{ data: "0x01", time: 1n, diff: 1n }]),
      h0,
    );
    const wrong = await s.sign(
      conflictHeader(s, h1, origin, receiver.address, [{ data: "0x01", time: 1n, diff: 2n }]),
      h1,
    );
    right.senderIndex = h0;
    wrong.senderIndex = h1;
    const [a, b] = conflictOrder(wrong, right);
    expect(BigInt(a.header.sender) < BigInt(b.header.sender)).to.equal(true);
    expect(conflictOrder(right, wrong)).to.deep.equal([a, b]);

    const domain = protocolDomain((await ethers.provider.getNetwork()).chainId, await s.fraud.getAddress());
    await (await court.connect(receiver).openDispute(a, b)).wait();
    const [opened] = await court.queryFilter(court.filters.DisputeOpened());
    expect(opened.args.id).to.equal(disputeId(domain, a.header, b.header));

    expect(() => conflictOrder(right, right)).to.throw(NotAConflictError, /Both headers are signed by/);
    expect(() => conflictOrder(right, { ...wrong, header: { ...wrong.header, seq: 1n } })).to.throw(
      NotAConflictError,
      /different positions/,
    );
    const same = { ...wrong, header: { ...right.header, sender: wrong.header.sender } };
    expect(() => conflictOrder(right, same)).to.throw(NotAConflictError, /same content/);
  });

  it("derives a juror's salt again from the key alone, and a different one per dispute and index", async () => {
    const key = hexlify(id("a juror's signing key"));
    const first = await jurorSalt(new Wallet(key), 7n, 3);
    expect(await jurorSalt(new Wallet(key), 7n, 3)).to.equal(first); // a restarted worker, its disk lost
    expect(await jurorSalt(new Wallet(key), 8n, 3)).to.not.equal(first);
    expect(await jurorSalt(new Wallet(key), 7n, 4)).to.not.equal(first);
    expect(await jurorSalt(Wallet.createRandom(), 7n, 3)).to.not.equal(first);
  });
});
