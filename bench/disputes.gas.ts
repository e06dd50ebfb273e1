// Gas of an execution dispute's transactions (receipt gasUsed), for bench/gas.bench.ts: opening
// (two signature checks and two holder checks, Shuffle.holds with 90 rounds whatever n is:
// math.holds90 measures it at n = 10,000), a juror's commit and reveal, the settlement that slashes
// the wrong holder and pays the opener, and a juror's claim (each juror its own transaction).
import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkHelpers } from "@nomicfoundation/hardhat-network-helpers/types";
import { id } from "ethers";
import { Permutation, type Delta } from "../client/index.js";
import { conflictHeader, deployFraudEpoch, nextFraudEpoch, type FraudEpoch } from "../test/slashing/fixture.js";

type Tx = Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>;

/** Worker `sender`'s header for origin shard `origin` carrying `deltas`, to `receiver`. */
const header = (s: FraudEpoch, sender: number, origin: number, receiver: string, deltas: Delta[]) => ({
  ...conflictHeader(s, sender, origin, receiver, deltas),
  inputMsh: id("the origin shard's inputs"), // the figures' calldata, as measured before
});

export async function measureDisputeGas(
  ethers: HardhatEthers,
  helpers: NetworkHelpers,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const gasOf = async (name: string, tx: Tx) => {
    out[name] = Number((await (await tx).wait())!.gasUsed);
  };
  const right: Delta[] = [{ data: "0x01", time: 1n, diff: 1n }];
  const wrong: Delta[] = [{ data: "0x01", time: 1n, diff: 2n }];
  {
    const n = 4;
    const s = await deployFraudEpoch(ethers, helpers, n);
    const court = await ethers.getContractAt("ExecutionDisputes", await s.fraud.disputes());
    // An origin shard held by two of the four signing workers.
    const perm = new Permutation(s.r, n);
    const origin = [...Array(n).keys()].find((j) => perm.holders(j, 2).every((i) => i < 4))!;
    const [h0, h1] = perm.holders(origin, 2);
    const [a, b] = s.workers[h0].address.toLowerCase() < s.workers[h1].address.toLowerCase() ? [h0, h1] : [h1, h0];
    const jurors = [0, 1, 2, 3].filter((i) => i !== a && i !== b);
    const receiver = s.workers[jurors[0]];
    const sa = await s.sign(header(s, a, origin, receiver.address, right), a);
    const sb = await s.sign(header(s, b, origin, receiver.address, wrong), b);
    sa.senderIndex = a;
    sb.senderIndex = b;
    await gasOf("disputes.open", court.connect(receiver).openDispute(sa, sb));
    const [opened] = await court.queryFilter(court.filters.DisputeOpened());
    const dispute = opened.args.id;
    for (const j of jurors) {
      const w = s.workers[j];
      await (await s.fx.token.mint(w.address, 10n ** 19n)).wait();
      await (await s.fx.token.connect(w).approve(await court.getAddress(), 10n ** 19n)).wait();
      await gasOf("disputes.depositJurorBond", court.connect(w).depositJurorBond(5n * 10n ** 18n));
    }
    await nextFraudEpoch(s, helpers);
    await nextFraudEpoch(s, helpers); // the draw epoch (opened in 1, drawn in 3)
    const salt = id("salt");
    for (const [i, j] of jurors.entries()) {
      const c = await court.voteCommitment(dispute, j, 1, salt);
      await gasOf(
        `disputes.commit.${i === 0 ? "first" : "second"}`,
        court.connect(s.workers[j]).commitVote(dispute, j, c),
      );
    }
    await nextFraudEpoch(s, helpers);
    for (const [i, j] of jurors.entries()) {
      await gasOf(
        `disputes.reveal.${i === 0 ? "first" : "second"}`,
        court.connect(s.workers[j]).revealVote(dispute, j, 1, salt),
      );
    }
    await nextFraudEpoch(s, helpers);
    await nextFraudEpoch(s, helpers); // past the appeal window
    await gasOf("disputes.settle.oneSlash", court.settle(dispute, sa, sb));
    await gasOf("disputes.claimJuror", court.connect(s.workers[jurors[0]]).claimJuror(dispute, jurors[0]));
  }
  return out;
}
