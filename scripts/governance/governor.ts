// The OpenZeppelin Governor path (MaruGovernor on testnets): a proposal holds the governed calls
// themselves; token holders vote; a passed proposal is queued in the TimelockController (by the
// governor, which is its proposer) and executed after the timelock's delay.
//   propose (any command with --propose) → Pending → Active → Succeeded → queue → Queued → execute → Executed
import { id as keccakText, type Interface, type Provider, type Signer } from "ethers";
import { MaruError } from "../../client/errors/base.js";
import { decodeContractError } from "../../client/errors/contracts.js";
import { inBlockRanges } from "../../client/events/logRanges.js";
import { MaruGovernor__factory } from "../../typechain-types/factories/contracts/governance/MaruGovernor__factory.js";
import { TimelockController__factory } from "../../typechain-types/factories/@openzeppelin/contracts/governance/TimelockController__factory.js";

/** IGovernor.ProposalState, by index. */
export const PROPOSAL_STATES = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed",
] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

export type GovernorContext = {
  provider: Provider;
  signer?: Signer;
  governor: string;
  log: (line: string) => void;
  /** Where to start reading ProposalCreated events (the deployment's block). */
  fromBlock?: number;
};

export type Proposal = {
  id: bigint;
  state: ProposalState;
  proposer: string;
  targets: string[];
  values: bigint[];
  calldatas: string[];
  description: string;
  voteStart: bigint;
  voteEnd: bigint;
  votes: { against: bigint; for: bigint; abstain: bigint };
  quorum: bigint;
  /** When the timelock lets it execute (seconds), once queued; 0 before. */
  eta: bigint;
};

const SUPPORT = { against: 0, for: 1, abstain: 2 } as const;

function governorAt(ctx: GovernorContext) {
  return MaruGovernor__factory.connect(ctx.governor, ctx.signer ?? ctx.provider);
}

/** Fails early with what to do when the address is no governor (an address book entry gone stale). */
async function checkGovernor(ctx: GovernorContext) {
  if ((await ctx.provider.getCode(ctx.governor)) === "0x")
    throw new MaruError(`There is no contract at the governor address ${ctx.governor}.`, {
      fix: "pass the MaruGovernor's address with --governor, or add `governor` to the addresses book.",
    });
  return governorAt(ctx);
}

/**
 * Proposes `calls` to the governor. The proposal id is the hash of the calls and the description,
 * so the same command with the same description addresses the same proposal (and is refused as a
 * duplicate once proposed).
 */
export async function propose(
  ctx: GovernorContext & { timelock: string },
  calls: Array<{ target: string; data: string; description: string }>,
  description: string,
): Promise<Proposal> {
  if (!description.trim())
    throw new MaruError("A governor proposal needs a description.", {
      fix: 'give --description "what this changes and why" (voters read it).',
    });
  const governor = await checkGovernor(ctx);
  const timelock = await governor.timelock();
  if (timelock.toLowerCase() !== ctx.timelock.toLowerCase())
    throw new MaruError(
      `The governor ${ctx.governor} queues in the timelock ${timelock}, not the book's ${ctx.timelock}.`,
      {
        fix: "pass the governor of this deployment (--governor), or the deployment's addresses book.",
      },
    );
  const tl = TimelockController__factory.connect(timelock, ctx.provider);
  if (!(await tl.hasRole(await tl.PROPOSER_ROLE(), ctx.governor)))
    throw new MaruError(`The governor ${ctx.governor} is not a proposer of the timelock ${timelock}.`, {
      fix: "the timelock's admin (or governance) grants it PROPOSER_ROLE first; until then a proposal could never be queued.",
    });
  const targets = calls.map((c) => c.target);
  const values = calls.map(() => 0n);
  const calldatas = calls.map((c) => c.data);
  const proposalId = await governor.hashProposal(targets, values, calldatas, keccakText(description));
  const existing = await governor.proposalSnapshot(proposalId);
  if (existing !== 0n) {
    const p = await readProposal(ctx, proposalId);
    throw new MaruError(`This proposal exists already (${p.state}): ${proposalId}.`, {
      fix: `follow it with \`gov governor show --proposal ${proposalId}\`; to propose the same calls again, change the description.`,
    });
  }
  if (!ctx.signer) throw new MaruError("Proposing needs an account.", { fix: "configure accounts for the network." });
  const who = await ctx.signer.getAddress();
  const threshold = await governor.proposalThreshold();
  const clock = await governor.clock();
  const power = clock > 0n ? await governor.getVotes(who, clock - 1n) : 0n;
  if (power < threshold)
    throw new MaruError(`${who} has ${power} votes; proposing needs ${threshold}.`, {
      fix: "propose from an account with enough delegated votes (the token's delegate(self) counts from the next block).",
    });
  try {
    await (await governor.connect(ctx.signer).propose(targets, values, calldatas, description)).wait();
  } catch (e) {
    throw decodeContractError(e, [governor.interface]);
  }
  const p = await readProposal(ctx, proposalId);
  ctx.log(`  proposed ${proposalId} to the governor ${ctx.governor}: ${p.state}`);
  ctx.log(`  voting from block ${p.voteStart + 1n} to ${p.voteEnd} (gov governor vote --proposal ${proposalId} …)`);
  return p;
}

/** How many proposals are read from the node at once (each is a handful of eth_calls). */
const READ_CONCURRENCY = 4;

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Every ProposalCreated event of the governor from `ctx.fromBlock` to the head, read once, in
 * ranges a public RPC accepts (the governor keeps only hashes: the calls and description are here).
 */
async function proposalsCreated(ctx: GovernorContext) {
  const governor = governorAt(ctx);
  const head = await ctx.provider.getBlockNumber();
  const logs = await inBlockRanges(
    (from, to) => governor.queryFilter(governor.filters.ProposalCreated(), from, to),
    ctx.fromBlock ?? 0,
    head,
  );
  return logs.map((l) => l.args);
}
type Created = Awaited<ReturnType<typeof proposalsCreated>>[number];

/** A proposal as its ProposalCreated event and the governor's views show it now. */
async function proposalOf(ctx: GovernorContext, created: Created): Promise<Proposal> {
  const governor = governorAt(ctx);
  const proposalId = created.proposalId;
  const state = PROPOSAL_STATES[Number(await governor.state(proposalId))];
  const [against, forVotes, abstain] = await governor.proposalVotes(proposalId);
  const snapshot = await governor.proposalSnapshot(proposalId);
  const clock = await governor.clock();
  // quorum(t) needs t in the past: before the vote starts, show the quorum as of now.
  const quorum = await governor.quorum(snapshot < clock ? snapshot : clock - 1n);
  return {
    id: proposalId,
    state,
    proposer: created.proposer,
    targets: [...created.targets],
    values: [...created[3]],
    calldatas: [...created.calldatas],
    description: created.description,
    voteStart: created.voteStart,
    voteEnd: created.voteEnd,
    votes: { against, for: forVotes, abstain },
    quorum,
    eta: await governor.proposalEta(proposalId),
  };
}

/** Everything about a proposal: state, calls, votes, quorum, eta. */
export async function readProposal(ctx: GovernorContext, proposalId: bigint): Promise<Proposal> {
  const created = (await proposalsCreated(ctx)).find((c) => c.proposalId === proposalId);
  if (!created)
    throw new MaruError(`The governor ${ctx.governor} has no proposal ${proposalId}.`, {
      fix: "`gov governor list` lists them (give --from-block <the governor's deployment block> if it was deployed after the book's startBlock).",
    });
  return proposalOf(ctx, created);
}

/**
 * Every proposal the governor has seen, newest last: the ProposalCreated events are read once, and
 * the proposals' states a few at a time.
 */
export async function listProposals(ctx: GovernorContext): Promise<Proposal[]> {
  await checkGovernor(ctx);
  return mapLimit(await proposalsCreated(ctx), READ_CONCURRENCY, (c) => proposalOf(ctx, c));
}

/** Parses a proposal id given in decimal (as the governor's events show it) or hex. */
export function proposalIdOf(text: string): bigint {
  if (!/^(\d+|0x[0-9a-fA-F]+)$/.test(text))
    throw new MaruError(`"${text}" is not a proposal id.`, { fix: "give the decimal id `propose` printed." });
  return BigInt(text);
}

/** Casts a vote: `for`, `against` or `abstain`, with an optional reason. */
export async function vote(ctx: GovernorContext, proposalId: bigint, support: string, reason?: string) {
  const s = SUPPORT[support.toLowerCase() as keyof typeof SUPPORT];
  if (s === undefined) throw new MaruError(`Unknown vote "${support}".`, { fix: "use for, against or abstain." });
  const governor = await checkGovernor(ctx);
  const p = await readProposal(ctx, proposalId);
  if (p.state !== "Active") {
    const now = await governor.clock();
    throw new MaruError(`Proposal ${proposalId} is ${p.state}: votes are cast while it is Active.`, {
      fix:
        p.state === "Pending"
          ? `voting opens after block ${p.voteStart} (now ${now}); vote then.`
          : "nothing to vote on; `gov governor show` says what is next.",
    });
  }
  if (!ctx.signer) throw new MaruError("Voting needs an account.", { fix: "configure accounts for the network." });
  const who = await ctx.signer.getAddress();
  const power = await governor.getVotes(who, p.voteStart);
  if (power === 0n)
    throw new MaruError(`${who} had no votes at the proposal's snapshot (block ${p.voteStart}).`, {
      fix: "votes count from a delegation made before the snapshot: delegate(self) on the votes token for the next proposal.",
    });
  try {
    const g = governor.connect(ctx.signer);
    await (await (reason ? g.castVoteWithReason(proposalId, s, reason) : g.castVote(proposalId, s))).wait();
  } catch (e) {
    throw decodeContractError(e, [governor.interface]);
  }
  ctx.log(`  ${who} voted ${support.toLowerCase()} with ${power} votes on ${proposalId}`);
  return readProposal(ctx, proposalId);
}

/** Queues a Succeeded proposal in the timelock (anyone may). */
export async function queue(ctx: GovernorContext, proposalId: bigint) {
  const governor = await checkGovernor(ctx);
  const p = await readProposal(ctx, proposalId);
  if (p.state !== "Succeeded")
    throw new MaruError(`Proposal ${proposalId} is ${p.state}: only a Succeeded proposal is queued.`, {
      fix: nextStep(p),
    });
  if (!ctx.signer) throw new MaruError("Queueing needs an account.", { fix: "configure accounts for the network." });
  try {
    await (
      await governor.connect(ctx.signer).queue(p.targets, p.values, p.calldatas, keccakText(p.description))
    ).wait();
  } catch (e) {
    throw decodeContractError(e, [governor.interface]);
  }
  const q = await readProposal(ctx, proposalId);
  ctx.log(`  queued ${proposalId}: executable at ${new Date(Number(q.eta) * 1000).toISOString()}`);
  return q;
}

/** Executes a Queued proposal once the timelock's delay has passed (anyone may). */
export async function execute(ctx: GovernorContext, proposalId: bigint, errorInterfaces: Interface[] = []) {
  const governor = await checkGovernor(ctx);
  const p = await readProposal(ctx, proposalId);
  if (p.state !== "Queued")
    throw new MaruError(`Proposal ${proposalId} is ${p.state}: only a Queued proposal is executed.`, {
      fix: nextStep(p),
    });
  const now = BigInt((await ctx.provider.getBlock("latest"))!.timestamp);
  if (now < p.eta)
    throw new MaruError(
      `Proposal ${proposalId} waits in the timelock until ${new Date(Number(p.eta) * 1000).toISOString()}.`,
      {
        fix: "run execute after that time.",
      },
    );
  if (!ctx.signer) throw new MaruError("Executing needs an account.", { fix: "configure accounts for the network." });
  try {
    await (
      await governor.connect(ctx.signer).execute(p.targets, p.values, p.calldatas, keccakText(p.description))
    ).wait();
  } catch (e) {
    // A governed call that reverts inside the timelock: decode it with the protocol's errors too.
    throw decodeContractError(e, [governor.interface, ...errorInterfaces]);
  }
  ctx.log(`  executed ${proposalId}`);
  return readProposal(ctx, proposalId);
}

/** What to do next with a proposal in its state. */
export function nextStep(p: Proposal): string {
  switch (p.state) {
    case "Pending":
      return `wait for voting to open (after block ${p.voteStart}), then \`gov governor vote --proposal ${p.id} --support for\`.`;
    case "Active":
      return `vote until block ${p.voteEnd}: \`gov governor vote --proposal ${p.id} --support for|against|abstain\`.`;
    case "Succeeded":
      return `queue it: \`gov governor queue --proposal ${p.id}\`.`;
    case "Queued":
      return `execute it after ${new Date(Number(p.eta) * 1000).toISOString()}: \`gov governor execute --proposal ${p.id}\`.`;
    case "Executed":
      return "nothing: it is executed.";
    default:
      return "nothing can be done with it; propose again (with a new description) if the change is still wanted.";
  }
}
