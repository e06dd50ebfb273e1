// gov arbitrate, as the arbitrator runs it (a child process against anvil): a dispute the jury left
// undecided (nobody voted) is refused while the jury still votes, refused for an outcome that
// slashes when the recomputation cannot back it (here the epoch has no operator to recompute), and
// then decided: a dry run prints the call and sends nothing, a Safe batch decodes to the call, a
// sender that is not the arbitrator is refused, and the arbitrator's transaction decides it; after
// that there is nothing left to arbitrate.
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { conflictOrder, type Delta } from "../../client/index.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { conflictHeader, deployFraudEpoch, nextFraudEpoch, type FraudEpoch } from "../slashing/fixture.js";
import { deployGovernance } from "../registry/fixture.js";
import { gov } from "./gov.js";

describe("gov arbitrate (anvil)", function () {
  this.timeout(300_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  let s: FraudEpoch;
  let dir: string;
  let book: string;
  let disputeId: bigint;
  const on = () => ["--network", "localhost", "--rpc-url", node.url, "--addresses", book];

  const nextEpoch = () => nextFraudEpoch(s, conn.networkHelpers as never);

  /** Holder `sender`'s first batch of origin 0, for worker 3 (their receiver). */
  const header = (sender: number, deltas: Delta[]) => conflictHeader(s, sender, 0, s.workers[3].address, deltas);

  before(async function () {
    node = await startAnvil();
    conn = await network.create({ network: "localhost", override: { url: node.url } });
    s = await deployFraudEpoch(conn.ethers, conn.networkHelpers as never, 4);
    const [admin] = await conn.ethers.getSigners();
    const { timelock } = await deployGovernance(conn.ethers, admin.address, 0);
    dir = await mkdtemp(join(tmpdir(), "maru-gov-arbitrate-"));
    book = join(dir, "31337.json");
    const registry = await s.registry.getAddress();
    await writeFile(
      book,
      JSON.stringify({
        chainId: 31337,
        startBlock: 0,
        contracts: {
          timelock: await timelock.getAddress(),
          registry,
          epochManager: await s.fx.epochs.getAddress(),
          beacon: await s.fx.beacon.getAddress(),
          fraudProofs: await s.fraud.getAddress(),
          blockHashOracle: await s.oracle.getAddress(),
          stakeToken: await s.fx.token.getAddress(),
          streamInbox: registry, // not read here (the book check wants code)
        },
      }),
    );
    // Two holders sign different content for one position; worker 3 (their receiver) opens it.
    const x = await s.sign(header(0, [{ data: "0x01", time: 1n, diff: 1n }]), 0);
    const y = await s.sign(header(1, [{ data: "0x01", time: 1n, diff: 2n }]), 1);
    const [a, b] = conflictOrder(x, y);
    const court = await conn.ethers.getContractAt("ExecutionDisputes", await s.fraud.disputes());
    const receipt = await (await court.connect(s.workers[3]).openDispute(a, b)).wait();
    const at = await court.getAddress();
    disputeId = court.interface.parseLog(receipt!.logs.find((l) => l.address === at)!)!.args.id;
    for (let i = 0; i < 3; ++i) await nextEpoch(); // epoch 4: the jury (drawn in 3) reveals
  });
  after(async function () {
    await conn?.close();
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses while the jury votes, and an outcome that slashes without a recomputation to back it", async function () {
    let r = gov(["arbitrate", ...on(), "--id", String(disputeId), "--outcome", "A", "--dry-run"]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stderr).to.include("votes until epoch 5 (now 4)");
    await nextEpoch(); // 5: no side has the votes, so the arbitrator may decide
    r = gov(["arbitrate", ...on(), "--id", String(disputeId), "--outcome", "A", "--dry-run"]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stdout).to.include("verify-dispute: cannot decide");
    expect(r.stdout).to.include("the arbitrator decides until epoch 8");
    expect(r.stderr).to.include("cannot be recomputed here, and A slashes someone");
    r = gov(["arbitrate", ...on(), "--id", String(disputeId), "--outcome", "maybe", "--dry-run"]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stderr).to.include("--outcome maybe is not an outcome");
    r = gov(["arbitrate", ...on(), "--id", String(disputeId), "--outcome", "A", "--dry-run", "--per-delta-ms", "fast"]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stderr).to.include("--per-delta-ms fast is not a time in milliseconds");
  });

  it("prints the call, writes the Safe batch, refuses another sender, and decides as the arbitrator", async function () {
    const court = await conn.ethers.getContractAt("ExecutionDisputes", await s.fraud.disputes());
    const args = ["arbitrate", ...on(), "--id", String(disputeId), "--outcome", "A", "--against-verification"];
    let r = gov([...args, "--dry-run"]);
    expect(r.status, r.out).to.equal(0);
    const data = r.stdout.match(/data: (0x[0-9a-f]+)/)![1];
    expect(court.interface.parseTransaction({ data })!.args.map(String)).to.deep.equal([String(disputeId), "1"]);
    expect(Number((await court.disputeOf(disputeId))[0].stage)).to.equal(1); // sent nothing
    const file = join(dir, "arbitrate.json");
    r = gov([...args, "--safe-json", file]);
    expect(r.status, r.out).to.equal(0);
    const batch = JSON.parse(await readFile(file, "utf8"));
    expect(batch.transactions).to.have.length(1);
    expect(batch.transactions[0].to).to.equal(await court.getAddress());
    expect(batch.transactions[0].data).to.equal(data);
    r = gov([...args, "--send", "--from", s.workers[2].address]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stderr).to.include("is not the court's arbitrator");
    r = gov([...args, "--send"]);
    expect(r.status, r.out).to.equal(0);
    const [d] = await court.disputeOf(disputeId);
    expect([Number(d.stage), Number(d.outcome)]).to.deep.equal([3, 1]); // ARBITRATED, A
    r = gov([...args, "--dry-run"]);
    expect(r.status, r.out).to.equal(1);
    expect(r.stderr).to.include("is arbitrated: there is nothing to arbitrate");
  });
});
