// maru-worker verify-dispute <id>: a verdict anyone can reproduce (docs/protocol.md §12). It reads the
// dispute and the two signed headers it was opened on, recomputes the disputed position from the
// chain's inputs and the bytecode the epoch's graph pins (./judge.ts, what jurors vote), and prints
// which side is right and why. Exit 0 with a verdict, 2 when it cannot decide from public data,
// 1 on an error. It needs no key.
import type { JsonRpcProvider } from "ethers";
import { MaruError, connectCourt, connectProtocol } from "../../client/index.js";
import { connectChain, milliseconds, readBook } from "../node/setup.js";
import { UndecidableError, judge, readDispute, type DisputeCase, type Judgement } from "./judge.js";
import { SIDE_NAMES, STAGE_NAMES as STAGES } from "./records.js";

export type VerifyOptions = {
  rpc: string;
  addresses: string;
  gateway: string;
  cacheDir?: string;
  perDeltaMs: string;
  json?: boolean;
};

/** Parses a dispute id: decimal or 0x-hex, as the court's events and the client print it. */
export function parseDisputeId(text: string): bigint {
  if (!/^(0x[0-9a-fA-F]{1,64}|[0-9]{1,78})$/.test(text))
    throw new MaruError(`"${text}" is not a dispute id`, {
      fix: "give the id from a DisputeOpened event, in decimal or as 0x and hex digits",
    });
  const id = BigInt(text);
  if (id >= 1n << 256n) throw new MaruError(`"${text}" is larger than a uint256`, { fix: "copy the id again" });
  return id;
}

/** Runs the command; returns the exit code (0 verdict, 2 undecidable). */
export async function verifyDispute(idText: string, o: VerifyOptions, out: (line: string) => void): Promise<number> {
  const id = parseDisputeId(idText);
  const perDeltaMs = milliseconds("--per-delta-ms", o.perDeltaMs);
  const book = readBook(o.addresses);
  const { provider } = await connectChain(o.rpc, book, o.addresses);
  try {
    return await verifyWith(provider, book, id, o, perDeltaMs, out);
  } finally {
    (provider as JsonRpcProvider).destroy();
  }
}

async function verifyWith(
  provider: JsonRpcProvider,
  book: ReturnType<typeof readBook>,
  id: bigint,
  o: VerifyOptions,
  perDeltaMs: number,
  out: (line: string) => void,
): Promise<number> {
  const p = connectProtocol(book, provider);
  const court = await connectCourt(p);
  let c: DisputeCase;
  try {
    c = await readDispute(p, court, id);
  } catch (e) {
    if (!(e instanceof UndecidableError)) throw e;
    if (o.json) out(JSON.stringify({ id: id.toString(), decided: false, why: e.message, fix: e.fix }, null, 2));
    else out(`cannot decide dispute ${id}: ${e.message}${e.fix ? `\n  ${e.fix}` : ""}`);
    return 2;
  }
  const h = c.a.header;
  const head = {
    id: id.toString(),
    epoch: c.epoch.toString(),
    stage: STAGES[c.stage],
    juryVerdict: SIDE_NAMES[c.verdict],
    outcome: SIDE_NAMES[c.outcome],
    position: {
      stream: String(h.stream),
      originShard: Number(h.originShard),
      shard: Number(h.shard),
      seq: String(h.seq),
    },
    A: { sender: String(c.a.header.sender).toLowerCase(), index: c.aIndex },
    B: { sender: String(c.b.header.sender).toLowerCase(), index: c.bIndex },
  };
  let j: Judgement;
  try {
    j = await judge(p, c, { gateway: o.gateway, cacheDir: o.cacheDir, perDeltaMs });
  } catch (e) {
    if (!(e instanceof UndecidableError)) throw e;
    if (o.json) out(JSON.stringify({ ...head, decided: false, why: e.message, fix: e.fix }, null, 2));
    else {
      describe(head, out);
      out(`cannot decide: ${e.message}`);
      if (e.fix) out(`  ${e.fix}`);
    }
    return 2;
  }
  if (o.json)
    out(
      JSON.stringify(
        { ...head, decided: true, side: SIDE_NAMES[j.side], why: j.why, parties: j.parties },
        (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v),
        2,
      ),
    );
  else {
    describe(head, out);
    for (const party of j.parties)
      out(
        `  ${party.side} ${party.sender}: ${party.right ? "RIGHT (its content is what the operator computes)" : `wrong (${party.differs.join(", ")} differ from what the operator computes)`}`,
      );
    const verdict =
      j.side === 3
        ? "NEITHER: both headers are wrong (vote NEITHER; both are slashed)"
        : `${SIDE_NAMES[j.side]} is right (vote ${SIDE_NAMES[j.side]}; ${j.side === 1 ? "B" : "A"} is slashed)`;
    out(`verdict: ${verdict}`);
  }
  return 0;
}

function describe(
  head: {
    id: string;
    epoch: string;
    stage: string;
    juryVerdict: string;
    outcome: string;
    position: { stream: string; originShard: number; shard: number; seq: string };
    A: { sender: string; index: number };
    B: { sender: string; index: number };
  },
  out: (line: string) => void,
): void {
  out(`dispute ${head.id}`);
  out(
    `  epoch ${head.epoch}, stream ${head.position.stream}, origin shard ${head.position.originShard} → shard ${head.position.shard}, seq ${head.position.seq}`,
  );
  out(`  stage ${head.stage}; jury verdict ${head.juryVerdict}; outcome ${head.outcome}`);
  out(`  A = ${head.A.sender} (member ${head.A.index}), B = ${head.B.sender} (member ${head.B.index})`);
}
