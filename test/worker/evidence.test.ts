// The guard's evidence desk: one submission per (worker, epoch, fault) at a time, and a fault stays
// open until the chain accepts evidence for it (slashed, already punished); a refusal or a throw
// leaves it open, so the liar's next provable lie in the epoch is still reported.
import { expect } from "chai";
import { pino } from "pino";
import type { Evidence } from "../../client/evidence/buildEvidence.js";
import type { EvidenceResult } from "../../client/evidence/submitEvidence.js";
import { EvidenceDesk } from "../../worker/guard/evidence.js";

const log = pino({ level: "silent" });
const W = "0x" + "aB".repeat(20);
const w = W.toLowerCase();
const misroute = (tag: number): Evidence => ({ fault: 0, method: "proveMisroutedDelta", args: [tag] });
const TX = "0x" + "77".repeat(32);
const slashed: EvidenceResult = { status: "slashed", txHash: TX, amount: 5n, reward: 1n, gasUsed: 9n };
const refused: EvidenceResult = { status: "refused", reason: "UnknownStream()" };

/** A desk whose submit answers from `answers` in turn (a function answer is called: it may throw). */
function desk(answers: Array<EvidenceResult | (() => never)>) {
  const submitted: Evidence[] = [];
  const d = new EvidenceDesk(async (e) => {
    submitted.push(e);
    const a = answers.shift();
    if (a === undefined) throw new Error("unexpected submission");
    return typeof a === "function" ? a() : a;
  }, log);
  return { d, submitted };
}

describe("EvidenceDesk", function () {
  it("keeps a refused fault open and closes it once slashed", async function () {
    const { d, submitted } = desk([refused, slashed]);
    d.queue(3n, W, misroute(1));
    await d.drain();
    expect(d.records.map((r) => [r.worker, r.epoch, r.fault, r.status, r.reason])).to.deep.equal([
      [w, "3", "misrouted-delta", "refused", "UnknownStream()"],
    ]);
    // The same fault again: still open, so it is submitted again.
    d.queue(3n, W, misroute(2));
    await d.drain();
    expect(submitted.map((e) => e.args[0])).to.deep.equal([1, 2]);
    expect(d.records[1]).to.include({ status: "slashed", amount: "5", txHash: TX });
    // Closed: a third lie of the same fault is not submitted.
    d.queue(3n, w, misroute(3));
    await d.drain();
    expect(submitted).to.have.length(2);
    expect(d.records).to.have.length(2);
  });

  it("closes on already-punished; other faults and epochs stay independent", async function () {
    const { d, submitted } = desk([{ status: "already-punished", reason: "AlreadyPunished()" }, refused, refused]);
    d.queue(3n, W, misroute(1));
    await d.drain();
    d.queue(3n, W, misroute(2)); // closed
    d.queue(4n, W, misroute(3)); // another epoch
    d.queue(3n, W, { fault: 1, method: "proveEquivocation", args: [4] }); // another fault
    await d.drain();
    expect(submitted.map((e) => e.args[0])).to.deep.equal([1, 3, 4]);
    expect(d.records.map((r) => [r.epoch, r.fault, r.status])).to.deep.equal([
      ["3", "misrouted-delta", "already-punished"],
      ["4", "misrouted-delta", "refused"],
      ["3", "equivocation", "refused"],
    ]);
  });

  it("records a submission that throws as refused and leaves the fault open", async function () {
    const { d, submitted } = desk([
      () => {
        throw new Error("transaction dropped\nsecond line");
      },
      slashed,
    ]);
    d.queue(3n, W, misroute(1));
    await d.drain();
    expect(d.records.map((r) => [r.status, r.reason])).to.deep.equal([["refused", "transaction dropped"]]);
    d.queue(3n, W, misroute(2));
    await d.drain();
    expect(submitted).to.have.length(2);
    expect(d.records[1].status).to.equal("slashed");
  });

  it("sends evidence again when its submission failed for a transient reason, three times in all", async function () {
    const transient = { status: "refused" as const, reason: "nonce too low", transient: true };
    const { d, submitted } = desk([transient, transient, transient, slashed]);
    d.queue(3n, W, misroute(1));
    await d.drain();
    d.queue(3n, W, misroute(2)); // the same fault is still being handled: not queued twice
    await d.drain();
    await d.drain();
    await d.drain(); // nothing left: three attempts were made
    expect(submitted.map((e) => e.args[0])).to.deep.equal([1, 1, 1]);
    expect(d.records.map((r) => r.status)).to.deep.equal(["refused", "refused", "refused"]);
    d.queue(3n, W, misroute(3)); // open: the next lie is reported
    await d.drain();
    expect(d.records[3].status).to.equal("slashed");
  });

  it("submits a fault queued twice before a drain once", async function () {
    const { d, submitted } = desk([refused, slashed]);
    d.queue(3n, W, misroute(1));
    d.queue(3n, w, misroute(2));
    await d.drain();
    expect(submitted.map((e) => e.args[0])).to.deep.equal([1]);
    expect(d.records).to.have.length(1);
    // Once settled (refused), it may be queued again.
    d.queue(3n, W, misroute(3));
    d.queue(3n, W, misroute(4));
    await d.drain();
    expect(submitted.map((e) => e.args[0])).to.deep.equal([1, 3]);
  });
});
