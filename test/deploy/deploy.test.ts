// The deployment on a real chain node in a separate process (anvil): the Ignition modules with the
// localhost parameters, the addresses book, the post-deploy check, a re-run that changes nothing,
// a check that catches a tampered wiring and a role held by anyone but the timelock; a
// production-shaped deployment (a timelock delay, a proposer that is not the deployer) that is NOT
// DONE until governance has the timelock accept the VRF beacon and the VRF subscription; Arbitrum
// refused.
import { expect } from "chai";
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { keccak256, toUtf8Bytes } from "ethers";
import {
  deployProtocol,
  loadParameters,
  refuseUnsupportedChain,
  DeployError,
  type Parameters,
} from "../../scripts/deploy/lib.js";
import { checkDeployment, formatReport, govCommand, type Check } from "../../scripts/deploy/checks.js";
import {
  acceptOwnership,
  allowAppender,
  registerStream,
  scheduleShares,
  setParameter,
  type Context,
} from "../../scripts/governance/operations.js";
import { readHandover, subscriptionApi } from "../../scripts/governance/handover.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

const failures = (checks: Check[]) => checks.filter((c) => !c.ok).map((c) => c.what);

describe("deploy: Ignition modules on anvil, addresses book, post-deploy check", function () {
  this.timeout(300_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  const deploymentIds: string[] = [];
  const tmp = mkdtempSync(join(tmpdir(), "maru-book-"));
  const deploymentId = (tag: string) => {
    const id = `test-${tag}-${process.pid}-${Date.now()}`;
    deploymentIds.push(id);
    return id;
  };

  before(async function () {
    node = await startAnvil();
    conn = await network.create({ network: "localhost", override: { url: node.url } });
  });
  after(async () => {
    await node?.stop();
    for (const id of deploymentIds) {
      rmSync(new URL(`../../deploy/deployments/${id}`, import.meta.url), { recursive: true, force: true });
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it("deploys, hands every power to the timelock, and passes every check; a re-run changes nothing", async function () {
    const [deployer, , , stranger] = await conn.ethers.getSigners();
    const id = deploymentId("local");
    const bookFile = join(tmp, "local.json");
    const params = loadParameters("localhost");
    const book = await deployProtocol(conn, { deploymentId: id, bookFile });
    const checks = await checkDeployment(conn, book, params, deployer.address);
    expect(failures(checks), "failed checks").to.deep.equal([]);
    expect(checks.length).to.be.greaterThan(60);
    // minDelay 0 and the deployer a proposer: the deploy had the timelock accept both itself.
    const state = await readHandover(conn.ethers.provider, book.contracts.timelock, book.contracts.beacon);
    expect(state.beacon.owner).to.equal(book.contracts.timelock);
    expect(state.subscription.owner).to.equal(book.contracts.timelock);
    const passed = checks.filter((c) => c.ok).map((c) => c.what);
    expect(passed).to.include(`VRFBeacon ${book.contracts.beacon}: owned by the timelock`);
    expect(passed).to.include(`VRF subscription ${state.subscription.id}: owned by the timelock`);
    expect(formatReport(checks, { networkName: "localhost", book }).join("\n")).not.to.match(/NOT DONE/);

    const blockBefore = await conn.ethers.provider.getBlockNumber();
    const again = await deployProtocol(conn, { deploymentId: id, bookFile });
    expect(again.contracts).to.deep.equal(book.contracts);
    expect(await conn.ethers.provider.getBlockNumber(), "no transaction on a re-run").to.equal(blockBefore);

    // Governance schedules new punishment shares (gov schedule-shares, through the timelock with its
    // zero delay): they wait ruleChangeDelay(), and the check reports the scheduled change.
    const ctx: Context = {
      provider: conn.ethers.provider,
      signer: deployer,
      book: {
        timelock: book.contracts.timelock,
        registry: book.contracts.registry,
        epochManager: book.contracts.epochManager,
      },
      log: () => {},
    };
    const shares = {
      rewardBps: 2_000n,
      slashBps: [10_000n, 10_000n, 5_000n, 5_000n, 5_000n, 5_000n],
      mode: "schedule" as const,
    };
    await scheduleShares(ctx, shares);
    await scheduleShares(ctx, { ...shares, mode: "execute" });
    const em = await conn.ethers.getContractAt("EpochManager", book.contracts.epochManager);
    const rules = await em.ruleChanges();
    expect(rules.pending & 0xffffn, "REWARD_BPS scheduled").to.equal(2_000n);
    expect(rules.sharesAt - BigInt((await conn.ethers.provider.getBlock("latest"))!.timestamp)).to.equal(
      await em.ruleChangeDelay(),
    );
    expect(await em.parameter(2), "not in force yet").to.equal(BigInt(params.Epochs.rewardBps as number));
    await expectMaruError(
      () => setParameter(ctx, { param: "REWARD_BPS", value: 1n, mode: "schedule" }),
      /REWARD_BPS is a punishment share/,
    );
    await expectMaruError(() => scheduleShares(ctx, { ...shares, slashBps: [1n] }), /needs 6 values/);

    // set-parameter: a value out of bounds is refused before anything is scheduled, with its error
    // decoded; a value set before can be set again with --salt; a scheduled operation can be
    // cancelled. (Zero delay here: schedule, then execute.)
    const lines: string[] = [];
    const logged: Context = { ...ctx, log: (l) => void lines.push(l) };
    const set = (value: bigint, mode: "schedule" | "execute" | "cancel", salt?: string) =>
      setParameter({ ...logged, salt }, { param: "EPOCH_DURATION", value, mode });
    await expectMaruError(
      () => set(10n, "schedule"),
      /setParameter\(EPOCH_DURATION, 10\) would fail when the timelock executes it: .*ParameterOutOfBounds/,
    );
    const duration = await em.parameter(4);
    const other = duration + 60n;
    await set(other, "schedule");
    await set(other, "execute");
    await set(duration, "schedule");
    await set(duration, "execute");
    expect(await em.parameter(4)).to.equal(duration);
    await expectMaruError(() => set(other, "schedule"), /already scheduled \(Done\)/);
    await set(other, "schedule", "second time");
    await set(other, "cancel", "second time");
    await expectMaruError(() => set(other, "execute", "second time"), /not scheduled/);
    await set(other, "schedule", "third time");
    await set(other, "execute", "third time");
    expect(await em.parameter(4), "set again with a new salt").to.equal(other);
    expect(lines.join("\n")).to.include(`EPOCH_DURATION: ${duration} s`); // units, not bare numbers
    await set(duration, "schedule", "restore");
    await set(duration, "execute", "restore"); // the deployment's value, for the check below

    // A source stream and its feeder, the way a protocol team sets them up without the devnet.
    const govCtx: Context = { ...logged, book: { ...logged.book, streamInbox: book.contracts.streamInbox } };
    const stream = {
      name: "payments",
      schema: "payment(address from, address to, uint64 amount)",
      partition: "SLICE:0:20",
      source: "INBOX",
    };
    await registerStream(govCtx, { ...stream, mode: "schedule" });
    await registerStream(govCtx, { ...stream, mode: "execute" });
    const registry = await conn.ethers.getContractAt("OperatorRegistry", book.contracts.registry);
    const record = await registry.stream(keccak256(toUtf8Bytes("payments")));
    // (An ethers Result: `length` is its size, so the fields by position: kind, offset, length.)
    const part = record.spec.partition as unknown as bigint[];
    expect([Number(part[0]), Number(part[1]), Number(part[2])]).to.deep.equal([1, 0, 20]);
    await expectMaruError(() => registerStream(govCtx, { ...stream, mode: "schedule" }), /already registered/);
    await expectMaruError(
      () => registerStream(govCtx, { ...stream, name: "blocks", source: "CHAIN", mode: "schedule" }),
      /A CHAIN stream needs the contract and the event it reads/,
    );
    await expectMaruError(
      () => registerStream(govCtx, { ...stream, name: "x", partition: "BYTES 0-20", mode: "schedule" }),
      /Cannot read the partition/,
    );
    const feeder = { stream: "payments", appender: stranger.address, allow: true };
    await allowAppender(govCtx, { ...feeder, mode: "schedule" });
    await allowAppender(govCtx, { ...feeder, mode: "execute" });
    const inboxContract = await conn.ethers.getContractAt("StreamInbox", book.contracts.streamInbox);
    expect(await inboxContract.isAppender(keccak256(toUtf8Bytes("payments")), stranger.address)).to.equal(true);
    await expectMaruError(
      () => allowAppender(govCtx, { ...feeder, stream: "unknown", mode: "schedule" }),
      /"unknown" is not registered/,
    );

    // Tamper through the timelock (impersonated): the check names exactly what is wrong, including a
    // role given to an account it was never told about (found in the RoleGranted events).
    const inbox = await conn.ethers.getContractAt("StreamInbox", book.contracts.streamInbox);
    const tl = await conn.ethers.getContractAt("TimelockController", book.contracts.timelock);
    await conn.provider.request({ method: "anvil_impersonateAccount", params: [book.contracts.timelock] });
    await conn.provider.request({ method: "anvil_setBalance", params: [book.contracts.timelock, "0xde0b6b3a7640000"] });
    const timelock = await conn.ethers.getSigner(book.contracts.timelock);
    await (await inbox.connect(timelock).grantRole(await inbox.GOVERNANCE_ROLE(), stranger.address)).wait();
    await (await tl.connect(timelock).grantRole(await tl.PROPOSER_ROLE(), stranger.address)).wait();
    await conn.provider.request({ method: "anvil_stopImpersonatingAccount", params: [book.contracts.timelock] });
    const after = await checkDeployment(conn, book, params, deployer.address);
    expect(failures(after)).to.deep.equal([
      "EpochManager: no scheduled change to how workers are punished",
      `StreamInbox: ${stranger.address} holds GOVERNANCE_ROLE`,
      `Timelock: ${stranger.address} holds PROPOSER_ROLE`,
    ]);
    const report = formatReport(after, { networkName: "localhost", book }).join("\n");
    expect(report).to.match(/NOT DONE: 2 powers are still held by an account other than the timelock/);
    expect(report).to.include(`renounceRole(GOVERNANCE_ROLE, ${stranger.address})`);
  });

  it("a production-shaped deployment is NOT DONE until the timelock accepts the beacon and the subscription", async function () {
    const [deployer, proposer, owner, anyone] = await conn.ethers.getSigners();
    const provider = conn.ethers.provider;
    const DELAY = 3_600;
    const local = loadParameters("localhost");
    const params: Parameters = { ...local, Governance: { minDelay: DELAY, proposers: [proposer.address] } };
    const lines: string[] = [];
    const book = await deployProtocol(conn, {
      deploymentId: deploymentId("governed"),
      bookFile: join(tmp, "governed.json"),
      parameters: params,
      log: (l) => lines.push(l),
    });
    const k = book.contracts;
    const subId = BigInt(book.vrf.subscriptionId);
    expect(lines.join("\n")).to.match(/ACTION NEEDED: the deployer is not a proposer of the timelock/);

    // The deployer keeps no role (not even on the timelock); it still owns the beacon and the
    // subscription, both offered to the timelock: the check fails on exactly those two.
    const beaconOwned = `VRFBeacon ${k.beacon}: ${deployer.address} (the deployer) owns it`;
    let subscriptionOwned = `VRF subscription ${subId}: ${deployer.address} (the deployer) owns it`;
    let checks = await checkDeployment(conn, book, params, deployer.address);
    expect(failures(checks)).to.deep.equal([beaconOwned, subscriptionOwned]);
    expect(checks.filter((c) => !c.ok).every((c) => c.power && c.handover)).to.equal(true);
    const report = formatReport(checks, { networkName: "localhost", book, minDelay: BigInt(DELAY) }).join("\n");
    expect(report).to.match(/NOT DONE: 2 powers are still held by an account other than the timelock/);
    expect(report).to.include(`${govCommand("localhost", book)} --schedule`);
    expect(report).to.include(`${govCommand("localhost", book)} --execute`);
    expect(report).to.match(/setCoordinator/);

    // The subscription handed to someone else instead: the check and a re-run of the deploy name the
    // owner and what it must do; governance can accept only the beacon.
    const coordinator = new conn.ethers.Contract(k.vrfCoordinator, subscriptionApi, deployer);
    await (await coordinator.requestSubscriptionOwnerTransfer(subId, owner.address)).wait();
    await (await coordinator.connect(owner).getFunction("acceptSubscriptionOwnerTransfer")(subId)).wait();
    lines.length = 0;
    await deployProtocol(conn, {
      deploymentId: deploymentIds.at(-1),
      bookFile: join(tmp, "governed.json"),
      parameters: params,
      log: (l) => lines.push(l),
    });
    expect(lines.join("\n")).to.include(
      `ACTION NEEDED: the VRF subscription's owner ${owner.address} transfers it to the timelock: ` +
        `requestSubscriptionOwnerTransfer(${subId}, ${k.timelock})`,
    );
    subscriptionOwned = `VRF subscription ${subId}: ${owner.address} owns it`;
    checks = await checkDeployment(conn, book, params, deployer.address);
    expect(failures(checks)).to.deep.equal([beaconOwned, subscriptionOwned]);
    const sub = checks.find((c) => c.what === subscriptionOwned)!;
    expect(sub.handover).to.equal(false);
    expect(sub.fix).to.include(
      `its owner ${owner.address} calls requestSubscriptionOwnerTransfer(${subId}, ${k.timelock})`,
    );

    const gov = (signer: typeof deployer): Context => ({
      provider,
      signer,
      book: { timelock: k.timelock, registry: k.registry, beacon: k.beacon },
      log: () => {},
    });
    const names = (xs: Array<{ what: string }>) => xs.map((x) => x.what);
    let r = await acceptOwnership(gov(proposer), { mode: "execute" });
    expect(names(r.unscheduled), "nothing scheduled yet").to.deep.equal([`VRFBeacon ${k.beacon}`]);
    r = await acceptOwnership(gov(proposer), { mode: "schedule" });
    expect(names(r.scheduled)).to.deep.equal([`VRFBeacon ${k.beacon}`]);
    expect(names(r.blocked)).to.deep.equal([`VRF subscription ${subId}`]);

    // The owner offers it to the timelock; governance schedules that acceptance too.
    await (await coordinator.connect(owner).getFunction("requestSubscriptionOwnerTransfer")(subId, k.timelock)).wait();
    r = await acceptOwnership(gov(proposer), { mode: "schedule" });
    expect(names(r.scheduled)).to.deep.equal([`VRF subscription ${subId}`]);
    expect(names(r.waiting), "the beacon's acceptance is scheduled already").to.deep.equal([`VRFBeacon ${k.beacon}`]);
    expect(
      failures(await checkDeployment(conn, book, params, deployer.address)),
      "scheduled is not done",
    ).to.deep.equal([beaconOwned, `VRF subscription ${subId}: ${owner.address} owns it`]);

    // Not before the delay; after it, any account executes, and the check passes.
    r = await acceptOwnership(gov(anyone), { mode: "execute" });
    expect(r.waiting.map((w) => w.state)).to.deep.equal(["Waiting", "Waiting"]);
    expect(r.executed).to.deep.equal([]);
    await conn.provider.request({ method: "evm_increaseTime", params: [DELAY] });
    await conn.provider.request({ method: "evm_mine", params: [] });
    r = await acceptOwnership(gov(anyone), { mode: "execute" });
    expect(names(r.executed)).to.deep.equal([`VRFBeacon ${k.beacon}`, `VRF subscription ${subId}`]);
    checks = await checkDeployment(conn, book, params, deployer.address);
    expect(failures(checks)).to.deep.equal([]);
    expect(formatReport(checks, { networkName: "localhost", book }).join("\n")).not.to.match(/NOT DONE/);
    r = await acceptOwnership(gov(anyone), { mode: "execute" });
    expect(r.done).to.have.length(2);
  });

  it("refuses Arbitrum, by chain id and by its ArbSys precompile, before sending anything", async function () {
    for (const chainId of [42161, 42170, 421614]) {
      await refuseUnsupportedChain(conn.ethers.provider, chainId).then(
        () => expect.fail(`chain ${chainId} accepted`),
        (e) =>
          expect(e)
            .to.be.instanceOf(DeployError)
            .and.match(/Arbitrum is not supported/),
      );
    }
    // An Arbitrum chain with another id answers ArbSys.arbBlockNumber() at 0x64: make anvil do so.
    const arbSys = "0x0000000000000000000000000000000000000064";
    const returns42 = "0x602a60005260206000f3"; // mstore(0, 42); return(0, 32)
    const blockBefore = await conn.ethers.provider.getBlockNumber();
    await conn.provider.request({ method: "anvil_setCode", params: [arbSys, returns42] });
    try {
      await deployProtocol(conn, { deploymentId: deploymentId("arbitrum"), bookFile: join(tmp, "arbitrum.json") }).then(
        () => expect.fail("deployed on a chain with ArbSys"),
        (e) => expect((e as Error).message).to.match(/Arbitrum is not supported .*docs\/deploy\.md#arbitrum/s),
      );
    } finally {
      await conn.provider.request({ method: "anvil_setCode", params: [arbSys, "0x"] });
    }
    expect(await conn.ethers.provider.getBlockNumber(), "nothing sent").to.equal(blockBefore);
    expect(() => loadParameters("arbitrum-sepolia")).to.throw(DeployError, /No parameter file/);
  });

  it("refuses a parameter file with placeholders, naming the line to fix", function () {
    expect(() => loadParameters("sepolia")).to.throw(DeployError, /sepolia\.json5:\d+ is still a placeholder/);
  });
});

async function expectMaruError(run: () => Promise<unknown>, message: RegExp): Promise<void> {
  let caught: Error | undefined;
  try {
    await run();
  } catch (e) {
    caught = e as Error;
  }
  expect(caught?.name, "a MaruError, not a stack trace").to.equal("MaruError");
  expect(caught?.message).to.match(message);
}
