// Deploying the protocol with the Ignition modules in deploy/modules, writing the addresses book,
// and reading a deployment back (used by scripts/deploy/deploy.ts, check.ts and the tests).
import { readFileSync, writeFileSync, mkdirSync, existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import JSON5 from "json5";
import hre from "hardhat";
import { z } from "zod";
import type { NetworkConnection } from "hardhat/types/network";
import type { Provider } from "ethers";
import LocalInfra from "../../deploy/modules/LocalInfra.js";
import Maru from "../../deploy/modules/Maru.js";
import type { AddressesBook } from "../../client/contracts.js";
import { acceptances, readHandover, same, subscriptionApi, subscriptionOwnership } from "../governance/handover.js";
import { acceptOwnership } from "../governance/operations.js";
import { preflight } from "./preflight.js";
import { connectNetwork } from "../lib/network.js";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Which parameter file a chain uses. */
export const NETWORKS: Record<number, string> = {
  31337: "localhost",
  11155111: "sepolia",
  84532: "baseSepolia",
};

/**
 * Arbitrum is not a target (docs/deploy.md#arbitrum): there block.number and blockhash() are not the
 * chain's own blocks' (ArbSys.arbBlockNumber() and arbBlockHash() are), so accumulated proofs about
 * the chain's blocks could never be judged, and the fallback randomness would be the sequencer's.
 */
const ARBITRUM: Record<number, string> = { 42161: "Arbitrum One", 42170: "Arbitrum Nova", 421614: "Arbitrum Sepolia" };
const ARBSYS = "0x0000000000000000000000000000000000000064";
const ARB_BLOCK_NUMBER = "0xa3b1b31d"; // ArbSys.arbBlockNumber()

/** Refuses Arbitrum by its chain id, and any other Arbitrum chain (an Orbit chain) by its ArbSys precompile. */
export async function refuseUnsupportedChain(provider: Provider, chainId: number): Promise<void> {
  let which = ARBITRUM[chainId];
  if (!which) {
    const answer = await provider.call({ to: ARBSYS, data: ARB_BLOCK_NUMBER }).catch(() => "0x");
    if (answer.length >= 66) which = `chain ${chainId} answers ArbSys.arbBlockNumber()`;
  }
  if (which) {
    throw new DeployError(
      `Arbitrum is not supported (${which}): block.number and blockhash() there are not the chain's own blocks', ` +
        "so accumulated proofs about them can never be judged and the fallback randomness is the sequencer's choice",
      "deploy on Ethereum or an OP Stack chain (Sepolia, Base Sepolia); see docs/deploy.md#arbitrum",
    );
  }
}

/** A deployment problem the user can fix: printed as a message with a fix, never a stack trace. */
export class DeployError extends Error {
  override name = "DeployError";
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(fix ? `${message}\n  Fix: ${fix}` : message);
  }
}

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address (0x and 40 hex digits)");
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "32 bytes (0x and 64 hex digits)");
const uint = z.union([z.number().int().nonnegative(), z.bigint().nonnegative()]);

/** The parameter file's shape (Ignition module id → parameters), checked before anything is sent. */
export const Parameters = z
  .object({
    Governance: z.object({
      minDelay: uint,
      proposers: z.array(address).min(1),
      executors: z.array(address).optional(),
    }),
    Randomness: z.object({
      coordinator: address.optional(), // local: from LocalInfra
      keyHash: bytes32,
      subscriptionId: uint.optional(), // local: from LocalInfra
      requestConfirmations: uint,
      callbackGasLimit: uint,
      nativePayment: z.boolean(),
    }),
    Epochs: z
      .object({ token: address.optional(), slashBps: z.array(uint).length(6).optional(), rewardBps: uint.optional() })
      .passthrough(),
    // The execution-dispute court's rules (deploy/modules/Slashing.ts has the defaults) and its
    // arbitrator, who must be able to act within the arbitration window.
    Slashing: z
      .object({
        arbitrator: address,
        jurySize: uint.optional(),
        commitEpochs: uint.optional(),
        revealEpochs: uint.optional(),
        appealEpochs: uint.optional(),
        arbitrationEpochs: uint.optional(),
        openerShareBps: uint.optional(),
        jurorDeposit: uint.optional(),
        appealBond: uint.optional(),
      })
      .strict(),
  })
  .superRefine((p, ctx) => {
    // A dispute's whole timeline must fit in the fraud window, or no dispute could ever open.
    const s = p.Slashing;
    const windows = [s.commitEpochs ?? 2, s.revealEpochs ?? 2, s.appealEpochs ?? 4, s.arbitrationEpochs ?? 12];
    const span = 2 + windows.reduce<number>((a, b) => a + Number(b), 0);
    const fraudWindow = Number((p.Epochs as Record<string, unknown>).fraudWindowEpochs ?? 24);
    if (span > fraudWindow)
      ctx.addIssue({
        code: "custom",
        path: ["Slashing"],
        message: `a dispute takes 2 + commit + reveal + appeal + arbitration = ${span} epochs, more than Epochs.fraudWindowEpochs (${fraudWindow}): shorten the windows or lengthen the fraud window`,
      });
  });
export type Parameters = z.infer<typeof Parameters>;

/**
 * Reads deploy/parameters/<name>.json5 (or the file MARU_DEPLOY_PARAMETERS names, to keep a filled-in
 * copy outside the repository), refusing placeholders with the line to fix.
 */
export function loadParameters(name: string, file = parametersFile(name)): Parameters {
  if (!existsSync(file))
    throw new DeployError(`No parameter file ${file}`, `copy deploy/parameters/sepolia.json5 to it`);
  const text = readFileSync(file, "utf8");
  const placeholder = text.match(/"(REPLACE_[A-Z_]+)"/);
  if (placeholder) {
    const line = text.slice(0, placeholder.index).split("\n").length;
    throw new DeployError(
      `${file}:${line} is still a placeholder (${placeholder[1]})`,
      "put your value there: the comments above it say where it comes from",
    );
  }
  const raw = JSON5.parse(text, (_k, v) => (typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v));
  const parsed = Parameters.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new DeployError(`${file} is not valid: ${issues}`);
  }
  return raw as Parameters;
}

/** The parameter file of a network: MARU_DEPLOY_PARAMETERS if set, else deploy/parameters/<name>.json5. */
export function parametersFile(name: string): string {
  return process.env.MARU_DEPLOY_PARAMETERS || join(ROOT, "deploy/parameters", `${name}.json5`);
}

/** The addresses book the client and the worker read: deployments/<chainId>.json (one type, the client's). */
export type { AddressesBook };

export function bookPath(chainId: number): string {
  return join(ROOT, "deployments", `${chainId}.json`);
}

export function readBook(chainId: number): AddressesBook {
  const file = bookPath(chainId);
  if (!existsSync(file)) {
    throw new DeployError(`No addresses book for chain ${chainId} (${file})`, "deploy first: npm run deploy:local");
  }
  return JSON.parse(readFileSync(file, "utf8")) as AddressesBook;
}

/**
 * Connects to the network given with --network (`hardhat run --network …`) and checks that it
 * answers: no network, an unknown one, a missing configuration variable or an unreachable node is
 * a MaruError that says what to do (scripts/lib/network.ts, shared with the governance CLI).
 */
export async function connectOrExplain() {
  const name = hre.globalOptions.network;
  const { connection } = await connectNetwork(
    { name },
    "npx hardhat run --network localhost scripts/deploy/deploy.ts (or npm run deploy:local)",
  );
  return connection;
}

type Log = (line: string) => void;

/**
 * The VRF subscription: the beacon must be one of its consumers, and it belongs to governance. When
 * the deployer owns it (the local mock's, or a testnet subscription the deployer created), it adds
 * the beacon and requests the transfer to the timelock; otherwise it says what the owner must do.
 */
async function offerSubscription<ChainTypeT extends string>(
  conn: NetworkConnection<ChainTypeT>,
  o: { coordinator: string; subscriptionId: bigint; beacon: string; timelock: string; log: Log },
) {
  const [deployer] = await conn.ethers.getSigners();
  const coordinator = new conn.ethers.Contract(o.coordinator, subscriptionApi, deployer);
  const sub = await subscriptionOwnership(conn.ethers.provider, o.coordinator, o.subscriptionId, o.timelock);
  const isConsumer = sub.consumers.some((c) => same(c, o.beacon));
  if (same(sub.owner, deployer.address)) {
    if (!isConsumer) {
      o.log("adding the beacon to the VRF subscription");
      await (await coordinator.addConsumer(o.subscriptionId, o.beacon)).wait();
    }
    if (!same(sub.pending, o.timelock)) {
      o.log(`offering the VRF subscription ${o.subscriptionId} to the timelock (requestSubscriptionOwnerTransfer)`);
      await (await coordinator.requestSubscriptionOwnerTransfer(o.subscriptionId, o.timelock)).wait();
    }
    return;
  }
  if (!isConsumer) {
    o.log(
      `ACTION NEEDED: the VRF subscription's owner ${sub.owner} adds the beacon ${o.beacon} as a consumer of ` +
        `subscription ${o.subscriptionId} (https://vrf.chain.link, or addConsumer on ${o.coordinator})`,
    );
  }
  if (!same(sub.owner, o.timelock) && !same(sub.pending, o.timelock)) {
    o.log(
      `ACTION NEEDED: the VRF subscription's owner ${sub.owner} transfers it to the timelock: ` +
        `requestSubscriptionOwnerTransfer(${o.subscriptionId}, ${o.timelock}) on ${o.coordinator}; then governance ` +
        `accepts it (npm run gov -- accept-ownership, docs/governance.md)`,
    );
  }
}

/**
 * The timelock accepts the beacon and the subscription offered to it. Only a proposer can schedule
 * that: when the deployer is one it schedules, and executes at once when the delay is zero (local
 * chains); otherwise it says what governance must run. The deploy's check reports what is left.
 */
async function acceptAsTimelock<ChainTypeT extends string>(
  conn: NetworkConnection<ChainTypeT>,
  o: { timelock: string; registry: string; beacon: string; log: Log },
) {
  const [deployer] = await conn.ethers.getSigners();
  const timelock = await conn.ethers.getContractAt("TimelockController", o.timelock);
  const ctx = {
    provider: conn.ethers.provider,
    signer: deployer,
    book: { timelock: o.timelock, registry: o.registry, beacon: o.beacon },
    log: (line: string) => o.log(`  ${line.trim()}`),
  };
  // What nobody offered the timelock yet, offerSubscription and the check report.
  const open = acceptances(await readHandover(ctx.provider, o.timelock, o.beacon)).filter(
    (a) => a.status === "acceptable",
  );
  if (open.length === 0) return;
  const delay = await timelock.getMinDelay();
  if (!(await timelock.hasRole(await timelock.PROPOSER_ROLE(), deployer.address))) {
    o.log(
      `ACTION NEEDED: the deployer is not a proposer of the timelock; governance has it accept ${open.map((a) => a.what).join(" and ")}: ` +
        "npm run gov -- accept-ownership --dry-run prints the calldata, --schedule and later --execute run it (docs/governance.md)",
    );
    return;
  }
  o.log(`the timelock accepts ${open.map((a) => a.what).join(" and ")} (delay ${delay} s)`);
  await acceptOwnership(ctx, { mode: "schedule" });
  if (delay === 0n) await acceptOwnership(ctx, { mode: "execute" });
  else
    o.log(
      `ACTION NEEDED: after the delay (${delay} s), anyone runs npm run gov -- accept-ownership --execute (docs/governance.md)`,
    );
}

/**
 * Deploys (or finishes deploying: Ignition's journal makes a re-run skip what is done) the
 * protocol on the connection's chain with the parameter file of that chain, adds the beacon to the
 * VRF subscription and offers the subscription to the timelock when the deployer owns it, has the
 * timelock accept the beacon and the subscription where the deployer may propose with no delay
 * (local chains; it schedules the acceptance when there is a delay), and writes the addresses book.
 * What is left to governance the post-deploy check reports (scripts/deploy/checks.ts).
 */
export async function deployProtocol<ChainTypeT extends string>(
  conn: NetworkConnection<ChainTypeT>,
  options: {
    parametersName?: string;
    /** Instead of the parameter file's contents (tests); `parametersName` still says whether the chain is local. */
    parameters?: Parameters;
    deploymentId?: string;
    log?: Log;
    bookFile?: string;
  } = {},
): Promise<AddressesBook> {
  const log = options.log ?? (() => {});
  const { ethers, ignition } = conn;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const expected = (conn.networkConfig as { chainId?: number }).chainId;
  if (expected !== undefined && expected !== chainId) {
    throw new DeployError(
      `The network "${conn.networkName}" is chain ${expected}, but its RPC URL answers as chain ${chainId}`,
      `point the network's RPC URL at a node of chain ${expected}, or pick the network of chain ${chainId}`,
    );
  }
  await refuseUnsupportedChain(ethers.provider, chainId);
  const name = options.parametersName ?? NETWORKS[chainId];
  if (!name) {
    throw new DeployError(
      `Chain ${chainId} has no parameter file`,
      `add deploy/parameters/<name>.json5 and map ${chainId} to it in scripts/deploy/lib.ts`,
    );
  }
  const params = options.parameters ?? loadParameters(name);
  const local = name === "localhost";
  const [deployer] = await ethers.getSigners();
  // A local node restarted is a new chain with the same id: key its journal by the genesis block.
  const genesis = await ethers.provider.getBlock(0);
  // MARU_DEPLOYMENT_ID keeps two deployments on one chain apart (each has its own journal).
  const deploymentId =
    options.deploymentId ??
    (process.env.MARU_DEPLOYMENT_ID || (local ? `local-${genesis!.hash!.slice(2, 14)}` : `maru-${chainId}`));
  const startBlock = await ethers.provider.getBlockNumber();
  const resuming = existsSync(join(ROOT, "deploy/deployments", deploymentId, "journal.jsonl"));
  log(
    `${resuming ? "resuming" : "starting"} deployment ${deploymentId} on chain ${chainId} with ` +
      `${options.parameters ? "the given parameters" : parametersFile(name)}`,
  );
  const problems = await preflight(ethers.provider, { deployer: deployer.address, params, local, name, resuming });
  if (problems.length > 0) {
    throw new DeployError(
      `Nothing was sent: the deployment on chain ${chainId} (${name}) cannot start:\n` +
        problems.map((p) => `  - ${p.what}\n    fix: ${p.fix}`).join("\n"),
    );
  }

  const file = options.bookFile ?? bookPath(chainId);
  const partialFile = file.replace(/\.json$/, ".partial.json");
  const ignitionParams: Record<string, Record<string, unknown>> = structuredClone(params) as never;
  let token = params.Epochs.token;
  if (local) {
    log("local chain: deploying the test token and Chainlink's VRF mock coordinator (LocalInfra)");
    let infra;
    try {
      infra = await ignition.deploy(LocalInfra, { deploymentId });
    } catch (e) {
      throw stoppedHalfWay(e, { chainId, name, deploymentId, partialFile });
    }
    const coordinator = infra.coordinator;
    const ids = (await coordinator.getActiveSubscriptionIds(0n, 10n)) as bigint[];
    if (ids.length === 0) throw new DeployError("The local VRF coordinator has no subscription");
    token = await infra.token.getAddress();
    ignitionParams.Randomness.coordinator = await coordinator.getAddress();
    ignitionParams.Randomness.subscriptionId = ids[0];
    ignitionParams.Epochs.token = token;
  }
  if (!token) throw new DeployError(`deploy/parameters/${name}.json5: Epochs.token is missing`);

  log(`deploying the protocol (Ignition deployment ${deploymentId})`);
  let c;
  try {
    c = await ignition.deploy(Maru, { parameters: ignitionParams as never, deploymentId });
  } catch (e) {
    throw stoppedHalfWay(e, { chainId, name, deploymentId, partialFile });
  }
  const addr = async (x: { getAddress(): Promise<string> }) => x.getAddress();
  const coordinatorAddress = ignitionParams.Randomness.coordinator as string;
  const subscriptionId = BigInt(ignitionParams.Randomness.subscriptionId as bigint);
  const beacon = await addr(c.beacon);

  const timelockAddress = await addr(c.timelock);
  await offerSubscription(conn, {
    coordinator: coordinatorAddress,
    subscriptionId,
    beacon,
    timelock: timelockAddress,
    log,
  });
  await acceptAsTimelock(conn, { timelock: timelockAddress, registry: await addr(c.registry), beacon, log });

  const book: AddressesBook = {
    chainId,
    network: name,
    deploymentId,
    startBlock,
    contracts: {
      epochManager: await addr(c.epochs),
      beacon,
      registry: await addr(c.registry),
      timelock: timelockAddress,
      fraudProofs: await addr(c.fraud),
      blockHashOracle: await addr(c.oracle),
      streamInbox: await addr(c.inbox),
      stakeToken: token,
      vrfCoordinator: coordinatorAddress,
    },
    vrf: { subscriptionId: subscriptionId.toString(), keyHash: params.Randomness.keyHash },
  };
  // A re-run keeps the first start block: it is where a client starts reading events.
  if (existsSync(file)) {
    const previous = JSON.parse(readFileSync(file, "utf8")) as AddressesBook;
    if (previous.deploymentId === deploymentId) book.startBlock = previous.startBlock;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(book, null, 2) + "\n");
  rmSync(partialFile, { force: true });
  return book;
}

/**
 * A deployment that stopped after its first transaction: what landed (Ignition's
 * deployed_addresses.json) goes to a partial book, never the book workers read, and the error says
 * that the same command resumes it (Ignition's journal skips what is done).
 */
function stoppedHalfWay(
  cause: unknown,
  o: { chainId: number; name: string; deploymentId: string; partialFile: string },
): DeployError {
  const journal = join(ROOT, "deploy/deployments", o.deploymentId);
  let landed: Record<string, string> = {};
  try {
    landed = JSON.parse(readFileSync(join(journal, "deployed_addresses.json"), "utf8"));
  } catch {
    // nothing landed yet
  }
  mkdirSync(dirname(o.partialFile), { recursive: true });
  writeFileSync(
    o.partialFile,
    JSON.stringify(
      { chainId: o.chainId, network: o.name, deploymentId: o.deploymentId, complete: false, landed },
      null,
      2,
    ) + "\n",
  );
  const why = ((cause as Error).message ?? String(cause)).split("\n").slice(0, 6).join("\n  ");
  return new DeployError(
    `The deployment stopped after ${Object.keys(landed).length} contracts landed (listed in ${o.partialFile}):\n  ${why}`,
    `fix the cause, then run the same command again: Ignition's journal (deploy/deployments/${o.deploymentId}) resumes where it stopped`,
  );
}
