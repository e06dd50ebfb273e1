// The worker's life in epochs: join (register, stake), then every epoch commit to the next, freeze
// and advance when due (any worker may), and verify the randomness before acting on an epoch. The
// dataflow (../engine) runs on top of it. Every wait says at info level what it waits for.
// docs/worker.md.
import type { Logger } from "pino";
import type { Dataflow } from "../engine/dataflow.js";
import type { Jury } from "../disputes/jury.js";
import { WaitLog } from "./waits.js";
import { noMetrics, type WorkerMetrics } from "../metrics/metrics.js";
import type { Wallet } from "ethers";
import { toUtf8String } from "ethers";
import {
  commit,
  connectProtocol,
  formatAmount,
  getAssignment,
  getStakeToken,
  register,
  rotateSigningKey,
  setNetworkAddress,
  stake,
  verifyRandomness,
  ContractRevertError,
  MaruError,
  decodeContractError,
  type AddressesBook,
  type Protocol,
} from "../../client/index.js";

/** A problem the operator of the worker must fix (printed with its fix, then the worker exits). */
export class WorkerSetupError extends MaruError {
  override name = "WorkerSetupError";
}

/** One epoch the worker took part in, as it logged it. */
export type EpochRecord = { epoch: bigint; r: string; source: string; index?: number; shards: number[] };

/**
 * Registers and stakes if needed, checking what a new operator most often gets wrong (an
 * unfunded account, too little stake token) with a message that says what to do.
 */
export async function join(p: Protocol, wallet: Wallet, signingKey: string, networkAddress: string, log: Logger) {
  const provider = wallet.provider!;
  if ((await provider.getBalance(wallet.address)) === 0n) {
    throw new WorkerSetupError(`The worker account ${wallet.address} has no funds for gas`, {
      fix: "send it some of the chain's native currency",
    });
  }
  const info = await p.epochs.stakeOf(wallet.address);
  if (!info.registered) {
    await register(p, signingKey, networkAddress);
    log.info({ signingKey, networkAddress }, "registered");
  } else {
    // A restarted worker: a new libp2p address (its peer id) and perhaps a new signing key.
    const registered = toUtf8String(await p.epochs.networkAddressOf(wallet.address));
    if (registered !== networkAddress) {
      await setNetworkAddress(p, networkAddress);
      log.info({ networkAddress }, "network address updated");
    }
    const current = await p.epochs.currentEpoch();
    const active = await p.epochs.signingKeyAt(wallet.address, current + 1n);
    if (active.toLowerCase() !== signingKey.toLowerCase()) {
      await rotateSigningKey(p, signingKey);
      log.warn(
        { signingKey, previous: active },
        "signing key rotated: it signs from the next epoch on (set MARU_SIGNING_KEY to keep one key across restarts)",
      );
    }
  }
  const minStake = await p.epochs.parameter(0);
  if (info.active < minStake) {
    const need = minStake - info.active;
    const balance = await p.token.balanceOf(wallet.address);
    if (balance < need) {
      // In the token's units, as the operator commands print them (never wei).
      const t = await getStakeToken(p);
      const u = (v: bigint) => formatAmount(v, { decimals: t.decimals, symbol: t.symbol ?? "tokens" });
      throw new WorkerSetupError(`Stake below the minimum: ${u(info.active)} staked, ${u(minStake)} needed`, {
        details: [`stake token ${t.address}: the account holds ${u(balance)}, ${u(need)} more is needed`],
        fix: "send the account the stake token, then start the worker again",
      });
    }
    await stake(p, need);
    log.info({ staked: need.toString() }, "staked");
  }
}

/** EpochManager.Param.RANDOMNESS_TIMEOUT. */
const RANDOMNESS_TIMEOUT = 6;

/** Blocks after the fallback block before a worker records its hash (half of BLOCKHASH's 256). */
const FALLBACK_RECORD_AFTER = 128;

/**
 * Records the fallback block's hash of a frozen epoch whose beacon has not answered 128 blocks
 * after that block, while BLOCKHASH can still read it (docs/protocol.md §10): otherwise a beacon
 * that never answers could leave the epoch with no readable fallback. Once per (epoch, block): a
 * re-armed fallback (FallbackRearmed) is recorded again.
 */
async function keepFallback(
  p: Protocol,
  log: Logger,
  next: bigint,
  info: { frozen: boolean; randomnessSet: boolean; fallbackBlock: bigint },
  end: bigint,
  head: number,
  recorded: Set<string>,
): Promise<void> {
  if (!info.frozen || info.randomnessSet || info.fallbackBlock === 0n) return;
  if (BigInt(head) < info.fallbackBlock + BigInt(FALLBACK_RECORD_AFTER)) return;
  const key = `${next}:${info.fallbackBlock}`;
  if (recorded.has(key)) return;
  // An answer after the timeout does not count (advance uses the fallback then).
  const [fulfilled, , fulfilledAt] = await p.beacon.randomnessOf(next);
  if (fulfilled && fulfilledAt < end + (await p.epochs.parameter(RANDOMNESS_TIMEOUT))) return;
  await (await p.epochs.recordFallback(next)).wait();
  recorded.add(key);
  log.info({ epoch: next.toString(), block: info.fallbackBlock.toString() }, "recorded the fallback block's hash");
}

/**
 * Moves the protocol along when it is due (freeze, advance); races with other workers are fine.
 * `cur` and `now` are the current epoch's info and the latest block's time, as the tick read them.
 */
async function nudge(
  p: Protocol,
  log: Logger,
  next: bigint,
  cur: { commitDeadline: bigint; end: bigint },
  now: bigint,
  waits: WaitLog,
  head: number,
  recorded: Set<string>,
): Promise<void> {
  const nextInfo = await p.epochs.epochInfo(next);
  if (!nextInfo.frozen && now < cur.commitDeadline)
    waits.say(
      "clock",
      `epoch ${next} freezes at chain time ${cur.commitDeadline} (now ${now}, ${cur.commitDeadline - now} s to go)`,
    );
  else if (nextInfo.frozen && now < cur.end)
    waits.say("clock", `epoch ${next} can begin at chain time ${cur.end} (now ${now}, ${cur.end - now} s to go)`);
  try {
    await keepFallback(p, log, next, nextInfo, cur.end, head, recorded);
    if (!nextInfo.frozen && now >= cur.commitDeadline) {
      await p.epochs.freeze.staticCall(next);
      await (await p.epochs.freeze(next)).wait();
      log.info({ epoch: next.toString() }, "froze");
    } else if (nextInfo.frozen && now >= cur.end) {
      await p.epochs.advance.staticCall();
      await (await p.epochs.advance()).wait();
      log.info({ epoch: next.toString() }, "advanced");
    }
  } catch (e) {
    // Another worker was first, or the randomness is not there yet: try again on the next tick.
    waits.say("nudge", `epoch ${next}: ${brief(decodeContractError(e, [p.epochs.interface]))}`);
  }
}

/**
 * Runs the epoch loop until `signal` aborts or `untilEpoch` is reached. Returns the epochs taken
 * part in.
 */
export async function runEpochs(options: {
  book: AddressesBook;
  wallet: Wallet;
  log: Logger;
  pollMs: number;
  untilEpoch?: bigint;
  signal: AbortSignal;
  confirmations: number;
  /** The dataflow to run every epoch (none: the worker only follows the epochs). */
  dataflow?: Dataflow;
  /** The oldest epoch to take up (a restarted worker resumes the epochs its protection record began). */
  resumeFrom?: bigint;
  /** What the worker reports (noMetrics when --metrics-port is not given). */
  metrics?: WorkerMetrics;
  /** The worker's duties in execution disputes (vote, appeal, settle): it stays until they are done. */
  jury?: Jury;
}): Promise<EpochRecord[]> {
  const { wallet, log } = options;
  const metrics = options.metrics ?? noMetrics;
  // The provider must not cache reads (cacheTimeout -1, see main.ts): each transaction then takes
  // the account's pending nonce afresh. (ethers' NonceManager counts a nonce even when a send fails
  // before broadcast, e.g. a freeze another worker made first; the gap then stalls every later
  // transaction of the worker.)
  const p = connectProtocol(options.book, wallet);
  const records: EpochRecord[] = [];
  let lastSeen = -1n;
  const waits = new WaitLog(log);
  const unverifiedSince = new Map<bigint, number>();
  const fallbacksRecorded = new Set<string>();
  let head = { number: -1, at: Date.now() };
  while (!options.signal.aborted) {
    try {
      const latest = (await wallet.provider!.getBlock("latest"))!;
      metrics.chainHead(latest.number, latest.timestamp);
      if (latest.number !== head.number) head = { number: latest.number, at: Date.now() };
      else if (Date.now() - head.at > 30_000)
        waits.say("chain", `no new block for ${Math.round((Date.now() - head.at) / 1000)} s (head ${head.number})`, {
          fix: "the chain is not producing blocks: a local node needs interval mining (anvil --block-time 1, or npm run chain)",
        });
      const current = await p.epochs.currentEpoch();
      const next = current + 1n;
      metrics.currentEpoch(current);
      const s = await p.epochs.stakeOf(wallet.address);
      const cur = await p.epochs.epochInfo(current);
      const now = BigInt(latest.timestamp);
      // Commit to the next epoch while its window is open.
      const committed = await p.epochs.indexOf(next, wallet.address).then(
        () => true,
        () => false,
      );
      let committedNext = committed;
      if (!committed && now < cur.commitDeadline && s.jailedUntil <= next) {
        try {
          await commit(p);
          committedNext = true;
          log.info({ epoch: next.toString() }, "committed");
        } catch (e) {
          if (!(e instanceof ContractRevertError)) throw e;
          log.warn({ reason: e.message }, "commit refused");
        }
      }
      metrics.committed(next, committedNext);
      await nudge(p, log, next, cur, now, waits, latest.number, fallbacksRecorded);
      // Every epoch from the last one seen up to the current one: a slow worker (or a fast chain)
      // may see the chain two epochs on; the skipped epoch's source window is closed but still runs.
      // A worker started mid-way begins with the current epoch; one started at genesis with epoch 1.
      if (lastSeen < 0n) {
        lastSeen = current > 0n ? current - 1n : 0n;
        if (options.resumeFrom !== undefined && options.resumeFrom <= lastSeen && options.resumeFrom > 0n)
          lastSeen = options.resumeFrom - 1n;
      }
      for (let e = lastSeen + 1n; e <= current; e++) {
        let v: Awaited<ReturnType<typeof verifyRandomness>>;
        let a: Awaited<ReturnType<typeof getAssignment>>;
        try {
          v = await verifyRandomness(p, e, { confirmations: options.confirmations });
          a = await getAssignment(p, e, wallet.address);
        } catch (err) {
          const reason = brief(err);
          // An epoch that is already over and still cannot be verified after a minute is skipped
          // (acting on it is never required; acting on unverified randomness is never allowed), so
          // one unverifiable epoch cannot keep the worker out of every later one.
          const since = unverifiedSince.get(e) ?? Date.now();
          unverifiedSince.set(e, since);
          if (e < current && Date.now() - since > 60_000) {
            log.warn({ epoch: e.toString(), reason }, "skipping an epoch whose randomness cannot be verified");
            options.dataflow?.skip(e);
            lastSeen = e;
            continue;
          }
          waits.say("verify", `epoch ${e}: ${reason}`);
          break;
        }
        log.info({ epoch: e.toString(), r: v.r, source: v.source, index: a.index, shards: a.shards }, "epoch verified");
        const me = wallet.address.toLowerCase();
        metrics.members(e, a.members.filter((m) => m.toLowerCase() !== me).length);
        if (options.dataflow && (options.untilEpoch === undefined || e <= options.untilEpoch)) {
          try {
            if (!(await options.dataflow.startEpoch(e, a))) {
              waits.say("start", `epoch ${e}: the block that began it is not final yet`);
              break;
            }
          } catch (err) {
            // The graph cannot be synced (gateway down, a blob that fails its hash): fatal on the
            // first epoch, so a misconfigured worker stops at once. (A graph the worker cannot run
            // is no error here: the dataflow sits that epoch out.)
            if (records.length === 0 && err instanceof MaruError) throw Object.assign(err, { fatal: true });
            log.error({ epoch: e.toString(), error: (err as Error).message }, "epoch not started, retrying");
            break;
          }
        }
        records.push({ epoch: e, r: v.r, source: v.source, index: a.index, shards: a.shards });
        lastSeen = e;
      }
      // Dispute duties first, in their own catch: a failing dataflow tick must not make a juror
      // miss its window, nor a failing duty stop the dataflow.
      await options.jury
        ?.tick(current)
        .catch((e: Error) => log.warn({ error: e.message.split("\n")[0] }, "dispute duties: RPC error, retrying"));
      await options.dataflow?.tick(current);
      // Done once every epoch up to the limit is finished here, or the chain is past the limit with
      // nothing open (a worker restarted after its last epoch has nothing left to do).
      const through = options.dataflow ? options.dataflow.lastFinished : lastSeen;
      const open = options.dataflow?.runs.size ?? 0;
      metrics.finished(through);
      // A dispute about its last epoch is opened by a receiver once it has closed that epoch,
      // during the next one: a worker that ran the dataflow stays until the chain is two epochs
      // past its last (the jury has scanned every opening by then), and until its duties are done.
      const disputeDutiesDone =
        !options.jury ||
        (((options.dataflow?.reports.length ?? 0) === 0 ||
          (current > (options.untilEpoch ?? 0n) + 2n && options.jury.scannedIn === current)) &&
          !options.jury.busy());
      if (
        options.untilEpoch !== undefined &&
        open === 0 &&
        disputeDutiesDone &&
        Date.now() - (options.dataflow?.lastServedAt ?? 0) > 5_000 && // peers catching up still ask it to resend
        (through >= options.untilEpoch || current > options.untilEpoch + 1n)
      )
        break;
    } catch (e) {
      if ((e as { fatal?: boolean }).fatal) throw e;
      log.warn({ error: (e as Error).message.split("\n")[0] }, "RPC error, retrying");
    }
    await new Promise((r) => setTimeout(r, options.pollMs));
  }
  return records;
}

/** One short line for a log: a decoded contract error's message, or an ethers error's short message. */
function brief(e: unknown): string {
  const x = e as { shortMessage?: string; message?: string };
  const text = (x instanceof ContractRevertError ? x.message : (x.shortMessage ?? x.message ?? String(e))).split(
    "\n",
  )[0];
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
