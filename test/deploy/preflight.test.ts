// A testnet deploy as a user runs it (`npx hardhat run --network sepolia scripts/deploy/deploy.ts`,
// a child process), against a Sepolia-shaped chain: anvil with chain id 11155111 and a block every
// second. Every precondition is checked before the first transaction and all problems are listed
// at once; a deploy that stops half-way (its funds drained while it runs) writes what landed to a
// partial book, never the book, and the same command resumes it with the same addresses. No stack
// trace in any of it.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { network } from "hardhat";
import { Wallet, parseEther, toBeHex } from "ethers";
import { DEPLOY_GAS } from "../../scripts/deploy/preflight.js";
import { startAnvil, type ChainNode } from "../utils/chainNode.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHAIN_ID = 11_155_111;
const DEPLOYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // anvil account 1
const DEPLOYER = new Wallet(DEPLOYER_KEY).address;
const BOOK = join(ROOT, `deployments/${CHAIN_ID}.json`);
const PARTIAL = join(ROOT, `deployments/${CHAIN_ID}.partial.json`);

type Run = { code: number; stdout: string; stderr: string };

describe("deploy on a testnet-shaped chain: preconditions first, a partial book, resume", function () {
  this.timeout(400_000);
  let node: ChainNode;
  let conn: Awaited<ReturnType<typeof network.create>>;
  const tmp = mkdtempSync(join(tmpdir(), "maru-preflight-"));
  const deploymentId = `test-preflight-${process.pid}-${Date.now()}`;
  const env = (params: string) => ({
    ...process.env,
    SEPOLIA_RPC_URL: node.url,
    DEPLOYER_PRIVATE_KEY: DEPLOYER_KEY,
    MARU_DEPLOY_PARAMETERS: params,
    MARU_DEPLOYMENT_ID: deploymentId,
  });
  const deploy = (params: string): Promise<Run> =>
    promisify(execFile)(
      process.execPath,
      [
        join(ROOT, "node_modules/hardhat/dist/src/cli.js"),
        "run",
        "--no-compile",
        "--network",
        "sepolia",
        "scripts/deploy/deploy.ts",
      ],
      { cwd: ROOT, env: env(params), timeout: 300_000 },
    ).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const paramsFile = (o: { token: string; coordinator: string; subscriptionId: bigint }) => {
    const text = readFileSync(join(ROOT, "deploy/parameters/sepolia.json5"), "utf8")
      .replace('"REPLACE_WITH_YOUR_SUBSCRIPTION_ID"', `"${o.subscriptionId}n"`)
      .replaceAll('"REPLACE_WITH_YOUR_GOVERNANCE_MULTISIG"', `"${Wallet.createRandom().address}"`)
      .replace('"REPLACE_WITH_YOUR_STAKE_TOKEN"', `"${o.token}"`)
      .replace(/coordinator: "0x[0-9a-fA-F]{40}"/, `coordinator: "${o.coordinator}"`);
    const file = join(tmp, `params-${Date.now()}.json5`);
    writeFileSync(file, text);
    return file;
  };
  const nonce = () => conn.ethers.provider.getTransactionCount(DEPLOYER);
  const setBalance = (wei: bigint) => conn.ethers.provider.send("anvil_setBalance", [DEPLOYER, toBeHex(wei)]);
  /** A stake token and a VRF mock coordinator on the chain, with a new (unfunded) subscription. */
  const tokenAndSubscription = async () => {
    const [funder] = await conn.ethers.getSigners();
    const token = await conn.ethers.deployContract("TestToken", [], funder);
    const coordinator = await conn.ethers.deployContract(
      "VRFCoordinatorV2_5Mock",
      [10n ** 17n, 10n ** 9n, 4n * 10n ** 15n],
      funder,
    );
    await (await coordinator.createSubscription()).wait();
    const [subId] = (await coordinator.getActiveSubscriptionIds(0n, 1n)) as bigint[];
    return { token, coordinator, subId };
  };
  let saved: string | undefined;

  before(async function () {
    // A developer's own book of this chain id is kept aside and put back.
    if (existsSync(BOOK)) renameSync(BOOK, (saved = join(tmp, "saved-book.json")));
    node = await startAnvil(["--chain-id", String(CHAIN_ID), "--block-time", "1"]);
    conn = await network.create({ network: "localhost", override: { url: node.url } });
  });
  after(async () => {
    await node?.stop();
    rmSync(join(ROOT, "deploy/deployments", deploymentId), { recursive: true, force: true });
    rmSync(PARTIAL, { force: true });
    rmSync(BOOK, { force: true });
    if (saved) renameSync(saved, BOOK);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("lists every missing precondition at once and sends nothing", async function () {
    // The repository's own file first: its placeholders are named with their line.
    const raw = await deploy(join(ROOT, "deploy/parameters/sepolia.json5"));
    expect(raw.code).to.equal(1);
    expect(raw.stderr).to.match(/sepolia\.json5:\d+ is still a placeholder \(REPLACE_WITH_YOUR_SUBSCRIPTION_ID\)/);

    // Addresses that hold no code on this chain (a token and a coordinator of another chain).
    const nowhere = await deploy(
      paramsFile({
        token: Wallet.createRandom().address,
        coordinator: Wallet.createRandom().address,
        subscriptionId: 1n,
      }),
    );
    expect(nowhere.code).to.equal(1);
    expect(nowhere.stderr).to.match(/Nothing was sent/);
    expect(nowhere.stderr).to.match(/the stake token 0x[0-9a-fA-F]{40} .* has no code on this chain/);
    expect(nowhere.stderr).to.match(/the VRF coordinator 0x[0-9a-fA-F]{40} .* has no code on this chain/);
    expect(nowhere.stderr).to.not.match(/\n\s+at /, "no stack trace");

    // A token and a coordinator that exist, but a subscription that does not, then an unfunded one,
    // and a deployer without enough ether: all reported together.
    const { token, coordinator, subId } = await tokenAndSubscription();
    const missing = await deploy(
      paramsFile({ token: await token.getAddress(), coordinator: await coordinator.getAddress(), subscriptionId: 7n }),
    );
    expect(missing.stderr).to.match(/VRF subscription 7 does not exist on the coordinator/);
    await setBalance(parseEther("0.001"));
    const poor = await deploy(
      paramsFile({
        token: await token.getAddress(),
        coordinator: await coordinator.getAddress(),
        subscriptionId: subId,
      }),
    );
    expect(poor.code).to.equal(1);
    expect(poor.stderr).to.match(/VRF subscription \d+ has no LINK balance/);
    expect(poor.stderr).to.match(
      /the deployer 0x[0-9a-fA-F]{40} has 0\.001 ETH; the deployment needs about [\d.]+ ETH/,
    );
    expect(poor.stderr).to.not.match(/stake token|coordinator .* has no code/);
    expect(await nonce(), "nothing sent").to.equal(0);
    expect(existsSync(BOOK)).to.equal(false);
  });

  it("stops half-way with a partial book when its funds run out, and the same command resumes it", async function () {
    const { token, coordinator, subId } = await tokenAndSubscription();
    await (await coordinator.fundSubscription(subId, parseEther("100"))).wait();
    const params = paramsFile({
      token: await token.getAddress(),
      coordinator: await coordinator.getAddress(),
      subscriptionId: subId,
    });
    await setBalance(parseEther("100"));

    // The deployer's funds vanish once a few contracts have landed (a shared key spent elsewhere).
    const first = deploy(params);
    for (let i = 0; i < 600 && (await nonce()) < 4; ++i) await new Promise((r) => setTimeout(r, 100));
    expect(await nonce()).to.be.at.least(4);
    await setBalance(parseEther("0.0000001"));
    const stopped = await first;
    expect(stopped.code).to.equal(1);
    expect(stopped.stderr).to.match(/The deployment stopped after \d+ contracts landed/);
    expect(stopped.stderr).to.match(/run the same command again/);
    expect(stopped.stderr).to.not.match(/\n\s+at /, "no stack trace");
    expect(existsSync(BOOK), "no book workers could read").to.equal(false);
    const partial = JSON.parse(readFileSync(PARTIAL, "utf8"));
    expect(partial).to.include({ chainId: CHAIN_ID, complete: false, deploymentId });
    const landed = Object.entries(partial.landed as Record<string, string>);
    expect(landed.length).to.be.greaterThan(0);

    // Resuming needs only what is left: less than the whole deployment's funds, which a first run
    // would be refused for, is no reason to refuse it.
    const fee = await conn.ethers.provider.getFeeData();
    await setBalance(((DEPLOY_GAS * fee.maxFeePerGas!) / 10n) * 9n);
    const resumed = await deploy(params);
    // A testnet-shaped deployment with a multisig proposer ends NOT DONE (exit 1) until governance
    // accepts the beacon and the subscription: that is the post-deploy check speaking, not a failure.
    expect(resumed.stdout).to.match(/NOT DONE/);
    expect(resumed.stderr).to.not.match(/deploy failed/);
    expect(resumed.stdout).to.match(/resuming deployment test-preflight-/);
    const book = JSON.parse(readFileSync(BOOK, "utf8"));
    expect(book).to.include({ chainId: CHAIN_ID, network: "sepolia", deploymentId });
    expect(existsSync(PARTIAL), "the partial book is gone").to.equal(false);
    const addresses = Object.values(book.contracts as Record<string, string>).map((a) => a.toLowerCase());
    for (const [future, address] of landed)
      expect(addresses, `${future} kept its address`).to.include(address.toLowerCase());

    // DEPLOY_GAS, which the funds check uses, covers what the deployment really took.
    let used = 0n;
    for (let b = 0; b <= (await conn.ethers.provider.getBlockNumber()); ++b) {
      const block = await conn.ethers.provider.getBlock(b, true);
      for (const tx of block!.prefetchedTransactions) if (tx.from === DEPLOYER) used += (await tx.wait())!.gasUsed;
    }
    expect(used, `the deployment used ${used} gas`).to.be.lessThan(DEPLOY_GAS);
    expect(used).to.be.greaterThan((DEPLOY_GAS * 6n) / 10n);
  });
});
