// The operator commands (maru-worker status, stake, unstake, withdraw, juror-bond, keys new) as real child
// processes against anvil in its own process, with the protocol deployed: what an operator types,
// what it prints, and the one line it says when something is wrong.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { network } from "hardhat";
import { Wallet, parseUnits } from "ethers";
import { MaruError, connectProtocol, register } from "../../client/index.js";
import { EpochManager__factory } from "../../typechain-types/factories/contracts/epochs/EpochManager.sol/EpochManager__factory.js";
import { paidOut } from "../../worker/ops/cli.js";
import { deployProtocol } from "../../scripts/deploy/lib.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";
import { scratchDir } from "../utils/scratch.js";

type Run = { code: number | null; out: string; err: string };

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(join(process.cwd(), "node_modules/.bin/tsx"), ["worker/main.ts", ...args], {
      env: { ...process.env, MARU_WORKER_KEY: "", MARU_KEYSTORE_PASSWORD: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    p.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => resolve({ code, out, err }));
  });
}

describe("maru-worker operator commands: amounts from receipts", () => {
  // withdraw and claim print what the transaction's events say was paid, not the simulation before it.
  const iface = EpochManager__factory.createInterface();
  const manager = Wallet.createRandom().address;
  const me = Wallet.createRandom().address;
  const other = Wallet.createRandom().address;
  const log = (address: string, event: "Withdrawn" | "RewardsClaimed", account: string, amount: bigint) => ({
    address,
    ...iface.encodeEventLog(event, [account, amount]),
  });
  const contract = { address: manager, iface };

  it("sums this account's Withdrawn / RewardsClaimed events of the staking contract, and only those", () => {
    const logs = [
      log(manager, "Withdrawn", other, 7n), // another account
      log(Wallet.createRandom().address, "Withdrawn", me, 9n), // another contract
      log(manager, "RewardsClaimed", me, 5n), // another event
      log(manager, "Withdrawn", me.toLowerCase(), 40n),
      log(manager, "Withdrawn", me, 2n),
    ];
    expect(paidOut(logs, contract, "Withdrawn", me)).to.equal(42n);
    expect(paidOut(logs, contract, "RewardsClaimed", me)).to.equal(5n);
    expect(paidOut([log(manager, "Withdrawn", me, 0n)], contract, "Withdrawn", me)).to.equal(0n);
  });

  it("says so when the receipt has no such event", () => {
    expect(() => paidOut([log(manager, "Withdrawn", other, 1n)], contract, "Withdrawn", me))
      .to.throw(MaruError)
      .with.property("message")
      .that.matches(/emitted no Withdrawn event for 0x/);
  });
});

describe("maru-worker operator commands (anvil)", function () {
  this.timeout(180_000);
  let node: ChainNode;
  const deploymentId = `ops-${process.pid}-${Date.now()}`;
  before(async () => (node = await startAnvil()));
  after(async () => {
    await node?.stop();
    rmSync(new URL(`../../deploy/deployments/${deploymentId}`, import.meta.url), { recursive: true, force: true });
  });

  it("status, stake 150, unstake, withdraw refused early, wrong amounts, keys new then status --keystore", async function () {
    const conn = await network.create({ network: "localhost", override: { url: node.url } });
    const { ethers, provider } = conn;
    const dir = scratchDir("maru-ops-");
    const bookFile = join(dir, "book.json");
    const book = await deployProtocol(conn, { deploymentId, bookFile });
    const token = await ethers.getContractAt("TestToken", book.contracts.stakeToken);
    const symbol = await token.symbol();
    const worker = Wallet.createRandom();
    await provider.request({ method: "anvil_setBalance", params: [worker.address, "0x56bc75e2d63100000"] });
    await (await token.mint(worker.address, parseUnits("1000", 18))).wait();
    const chain = ["--rpc", node.url, "--addresses", bookFile];
    const key = { MARU_WORKER_KEY: worker.privateKey };
    const status = async (env: Record<string, string> = key) => {
      const r = await cli(["status", ...chain, "--json"], env);
      expect(r.code, r.err).to.equal(0);
      return JSON.parse(r.out);
    };

    // Before anything: not registered, no stake, nothing queued; the human form too.
    const before = await status();
    expect(before).to.include({
      worker: worker.address,
      registered: false,
      activeStake: `0 ${symbol}`,
      balance: `1000 ${symbol}`,
      minStake: `100 ${symbol}`,
      currentEpoch: "0",
      committedToNext: false,
      claimableRewards: `0 ${symbol}`,
    });
    const human = await cli(["status", ...chain], key);
    expect(human.out).to.match(/active stake\s+0 tMARU \(minimum 100 tMARU/);
    // --worker takes an address only (ethers would read anything else as an ENS name).
    const notAnAddress = await cli(["status", ...chain, "--worker", "abc"], {});
    expect(notAnAddress.code).to.equal(1);
    expect(notAnAddress.err).to.match(/^maru-worker: --worker abc is not an address — fix: give the worker's staking/);
    expect(notAnAddress.err.trim().split("\n")).to.have.length(1);
    const other = await cli(["status", ...chain, "--worker", worker.address, "--json"], {});
    expect(other.code, other.err).to.equal(0);
    expect(JSON.parse(other.out)).to.include({ worker: worker.address, registered: false });

    // Staking before registering says what to do, in one line.
    const early = await cli(["stake", "150", ...chain], key);
    expect(early.code).to.equal(1);
    expect(early.err).to.match(/^maru-worker: 0x[0-9a-fA-F]{40} is not registered as a worker — fix: start the worker/);
    expect(early.err.trim().split("\n")).to.have.length(1);

    // The worker registers when it first starts; here through the client's action.
    await register(
      connectProtocol(book, worker.connect(ethers.provider)),
      Wallet.createRandom().address,
      "/ip4/127.0.0.1/tcp/9",
    );

    // Wrong amounts: one line each, no transaction.
    for (const [amount, message] of [
      ["abc", /"abc" is not an amount/],
      ["-1", /The amount must be positive, not -1/],
      ["1.0000000000000000001", /has more decimals than tMARU \(18\)/],
      ["0", /The amount must be more than 0/],
    ] as const) {
      const r = await cli(["stake", amount, ...chain], key);
      expect(r.code, `${amount}: ${r.err}`).to.equal(1);
      expect(r.err, amount).to.match(message);
      expect(r.err.trim().split("\n"), amount).to.have.length(1);
    }
    const wrongSymbol = await cli(["stake", "150", "ETH", ...chain], key);
    expect(wrongSymbol.err).to.match(/"ETH" is not the stake token: it is tMARU/);
    const tooMuch = await cli(["stake", "5000", ...chain], key);
    expect(tooMuch.err).to.match(/The account holds 1000 tMARU, 5000 tMARU asked — fix: send it 4000 tMARU more/);

    // stake 150 (with the symbol): the approval and the stake, in token units.
    const staked = await cli(["stake", "150", symbol, ...chain], key);
    expect(staked.code, staked.err).to.equal(0);
    expect(staked.out).to.match(/staked 150 tMARU \(transaction 0x[0-9a-f]{64}\)/);
    expect(staked.out).to.match(/active stake 150 tMARU \(minimum 100 tMARU\)/);
    const afterStake = await status();
    expect(afterStake).to.include({ registered: true, activeStake: `150 ${symbol}`, balance: `850 ${symbol}` });

    // Unstake more than is active: refused before sending; then 50.5 (a fraction) queued.
    const over = await cli(["unstake", "200", ...chain], key);
    expect(over.err).to.match(/Only 150 tMARU is active stake, 200 tMARU asked — fix: unstake at most 150 tMARU/);
    const unstaked = await cli(["unstake", "50.5", ...chain], key);
    expect(unstaked.code, unstaked.err).to.equal(0);
    expect(unstaked.out).to.match(/queued 50\.5 tMARU to leave/);
    expect(unstaked.out).to.match(/withdrawable from \d{4}-\d\d-\d\dT.*\(in 1[34] d/);
    const afterUnstake = await status();
    expect(afterUnstake).to.include({ activeStake: `99.5 ${symbol}`, queuedStake: `50.5 ${symbol}` });
    expect(afterUnstake.unstakeRequests).to.have.length(1);
    expect(afterUnstake.unstakeRequests[0]).to.include({ amount: `50.5 ${symbol}`, unlockEpoch: "26" });

    // Withdraw too early: when it will be ready, in time and in epochs.
    const tooEarly = await cli(["withdraw", ...chain], key);
    expect(tooEarly.code).to.equal(1);
    expect(tooEarly.err).to.match(
      /^maru-worker: Nothing to withdraw yet: the oldest request, 50\.5 tMARU, unlocks at \d{4}-.* \(in 1[34] d[^)]*\) and once epoch 26 is current \(now 0, 26 to go, about .*\) — fix: run withdraw again then/,
    );
    expect(tooEarly.err.trim().split("\n")).to.have.length(1);
    const nothing = await cli(["claim", ...chain], key);
    expect(nothing.err).to.match(/No rewards to claim — fix: rewards are the reporter's share of a slash/);

    // The juror bond: shown, a withdrawal beyond it refused, a deposit, then all of it back.
    let bond = await cli(["juror-bond", ...chain], key);
    expect(bond.code, bond.err).to.equal(0);
    expect(bond.out).to.match(/juror bond: 0 tMARU \(a vote locks 1 tMARU; an appeal costs 10 tMARU/);
    bond = await cli(["juror-bond", ...chain, "--withdraw", "1"], key);
    expect(bond.code).to.equal(1);
    expect(bond.err).to.match(
      /The juror bond holds 0 tMARU: cannot withdraw 1 tMARU — fix: there is nothing to withdraw/,
    );
    const held = await token.balanceOf(worker.address);
    bond = await cli(["juror-bond", ...chain, "--deposit", "5"], key);
    expect(bond.code, bond.err).to.equal(0);
    expect(bond.out).to.match(/deposited 5 tMARU[^]*juror bond: 5 tMARU/);
    expect(await token.balanceOf(worker.address)).to.equal(held - parseUnits("5", 18));
    bond = await cli(["juror-bond", ...chain, "--withdraw", "all"], key);
    expect(bond.code, bond.err).to.equal(0);
    expect(bond.out).to.match(/withdrew 5 tMARU[^]*juror bond: 0 tMARU/);
    expect(await token.balanceOf(worker.address)).to.equal(held);

    // keys new: a keystore (never overwritten), then status through it.
    const keystore = join(dir, "keys", "staking.json");
    const pw = { MARU_KEYSTORE_PASSWORD: "correct horse battery staple" };
    const created = await cli(["keys", "new", "--keystore", keystore], pw);
    expect(created.code, created.err).to.equal(0);
    const address = created.out.match(/0x[0-9a-fA-F]{40}/)![0];
    const again = await cli(["keys", "new", "--keystore", keystore], pw);
    expect(again.err).to.match(/staking\.json exists: refusing to overwrite it/);
    const viaKeystore = await cli(["status", ...chain, "--keystore", keystore, "--json"], pw);
    expect(viaKeystore.code, viaKeystore.err).to.equal(0);
    expect(JSON.parse(viaKeystore.out)).to.include({ worker: address, registered: false });
    const wrongPassword = await cli(["status", ...chain, "--keystore", keystore], {
      MARU_KEYSTORE_PASSWORD: "wrong",
    });
    expect(wrongPassword.err).to.match(
      /^maru-worker: Cannot open the keystore .* — fix: check the file and MARU_KEYSTORE_PASSWORD/,
    );
  });
});
