// npm run devnet, as a user runs it: a short run with no cheater and one with each byzantine mode
// (wrong-output through a dispute and its jury), all reading the default CHAIN sources (an ERC-20's
// Transfer logs, and its Approval logs for the join), one more with no cheater reading a StreamInbox stream,
// then two --chaos runs (an honest worker killed and restarted, a reorg, a flood; once with a
// cheater too), every one a real chain node, gateway, deployment, four worker processes and a
// feeder. Each run checks its own expectations (exit code) and the report is checked again here.
// The runs go one after another (two cores); every process is stopped when a run ends, fails or
// times out.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BYZANTINE_MODES } from "../../worker/adversary/modes.js";
import type { DevnetReport } from "../../scripts/devnet/report.js";

const MODES = ["none", "inbox", ...BYZANTINE_MODES, "chaos", "chaos+misroute"] as const;
const FAULT: Record<string, string> = {
  misroute: "misrouted-delta",
  equivocate: "equivocation",
  "bad-batch-hash": "batch-mismatch",
  "broken-chain": "broken-chain",
  "bad-accumulated-proof": "invalid-accumulated-proof",
  "wrong-output": "execution",
};
const PARALLEL = 1;
const RUN_SECONDS = 420;

type Run = { code: number | null; report?: DevnetReport; output: string };

function devnet(mode: string, dir: string): Promise<Run> {
  const json = join(dir, `${mode.replace("+", "-")}.json`);
  const chaos = mode.startsWith("chaos");
  const cheat = chaos ? mode.split("+")[1] : mode === "none" || mode === "inbox" ? undefined : mode;
  const args = ["scripts/devnet/devnet.ts", "--quiet", "--workers", "4"];
  if (mode === "inbox") args.push("--source", "inbox");
  // Three epochs: the balances' state is handed over twice (epoch 1 → 2 → 3), and chaos needs a
  // third epoch anyway (peers keep serving what a restarted worker asks for again).
  args.push("--deltas", chaos ? "300" : "200", "--epochs", "3");
  args.push("--json", json, "--timeout", String(RUN_SECONDS));
  if (chaos) args.push("--chaos");
  if (cheat) args.push("--byzantine", cheat);
  const proc = spawn(join(process.cwd(), "node_modules/.bin/tsx"), args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  proc.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  // The devnet stops its own children on SIGTERM; SIGKILL only if it does not exit.
  const guard = setTimeout(() => proc.kill("SIGTERM"), (RUN_SECONDS + 60) * 1000);
  const hard = setTimeout(() => proc.kill("SIGKILL"), (RUN_SECONDS + 90) * 1000);
  return new Promise((resolve) =>
    proc.once("exit", (code) => {
      clearTimeout(guard);
      clearTimeout(hard);
      let report: DevnetReport | undefined;
      try {
        report = JSON.parse(readFileSync(json, "utf8"));
      } catch {
        // no report: the assertion shows the output
      }
      resolve({ code, report, output });
    }),
  );
}

describe("npm run devnet: a live dataflow catches and slashes a cheating worker", function () {
  this.timeout((RUN_SECONDS + 120) * 1000 * Math.ceil(MODES.length / PARALLEL));
  const runs = new Map<string, Run>();
  const dir = mkdtempSync(join(tmpdir(), "maru-devnet-test-"));
  before(async function () {
    for (let i = 0; i < MODES.length; i += PARALLEL) {
      const wave = MODES.slice(i, i + PARALLEL);
      const results = await Promise.all(wave.map((m) => devnet(m, dir)));
      wave.forEach((m, j) => runs.set(m, results[j]));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const mode of MODES) {
    const chaos = mode.startsWith("chaos");
    const cheat = chaos ? mode.split("+")[1] : mode === "none" || mode === "inbox" ? undefined : mode;
    const title =
      mode === "none"
        ? "with no cheater: nobody is slashed, the output is right (CHAIN source: an ERC-20's Transfer logs)"
        : mode === "inbox"
          ? "with an INBOX source and no cheater: nobody is slashed, the output is right"
          : chaos
            ? `--chaos${cheat ? ` with ${cheat}` : ""}: an honest worker killed and restarted, a reorg and a flood slash nobody honest; the output is right`
            : `catches ${mode}`;
    it(title, function () {
      const run = runs.get(mode)!;
      const r = run.report;
      const epochs = 3;
      expect(r, run.output.slice(-3000)).to.not.equal(undefined);
      expect(r!.expectations.failures, run.output.slice(-3000)).to.deep.equal([]);
      expect(run.code, run.output.slice(-3000)).to.equal(0);
      expect(r!.outputProblems, "a complete output is never wrong").to.deep.equal([]);
      if (cheat === "withhold")
        // The withholder's state cannot be confirmed: incomplete from the third epoch on, and said
        // so; the histogram, whose second exchange runs only over confirmed state, from the second.
        for (const line of r!.outputIncomplete) expect(line).to.match(/^epoch 3: |^epoch 2: histogram /);
      else expect(r!.outputCorrect).to.equal(true);
      expect(r!.source).to.equal(mode === "inbox" ? "inbox" : "chain");
      // The transfers fed, and on the CHAIN source the Approval logs the join's second source read.
      expect(r!.deltasProcessed - r!.approvalsProcessed).to.equal(chaos ? 300 : 200);
      if (mode === "inbox") expect(r!.approvalsProcessed).to.equal(0);
      else expect(r!.approvalsProcessed).to.be.greaterThan(0);
      expect(r!.deltasPerSec).to.be.greaterThan(0);
      expect(r!.epochs).to.equal(epochs);
      expect(r!.perWorker).to.have.length(4);
      for (const w of r!.perWorker) {
        expect(w.exitCode, w.worker).to.equal(0);
        expect(w.epochs, w.worker).to.equal(epochs);
      }
      if (chaos) {
        expect(r!.restarts.length).to.be.at.least(1);
        expect(r!.reorgs.length).to.be.at.least(1);
        expect(r!.reorgs[0].depth).to.be.greaterThan(1); // deeper than the workers' confirmation depth
        expect(r!.floods.length).to.be.at.least(1);
        expect(r!.floods[0].connected).to.equal(false);
        expect(r!.floods[0].refusedByWorker).to.be.greaterThan(0);
        const restarted = r!.restarts.map((x) => x.worker);
        expect(r!.slashed.filter((s) => restarted.includes(s.worker))).to.deep.equal([]);
      }
      if (!cheat) {
        expect(r!.byzantineWorker).to.equal(null);
        expect(r!.slashed).to.deep.equal([]);
        expect(r!.withholding).to.deep.equal([]);
      } else if (cheat === "wrong-output") {
        // The receivers compute the differing times themselves and name the cheater, open a
        // dispute, the jury (the other workers) decides it, and the cheater alone is slashed for
        // EXECUTION; verify-dispute, run afterwards in its own process, finds the cheater wrong.
        expect(r!.slashed.length).to.be.at.least(1);
        for (const s of r!.slashed) expect([s.worker, s.fault]).to.deep.equal([r!.byzantineWorker, "execution"]);
        expect(r!.disputes.length).to.be.at.least(1);
        for (const d of r!.disputes) {
          expect(d.parties).to.include(r!.byzantineWorker);
          expect([d.verifyExit, d.wrong]).to.deep.equal([0, [r!.byzantineWorker]]);
        }
        expect(r!.cheatToSlashMs).to.be.a("number");
        expect(r!.disagreements.length).to.be.greaterThan(0);
        for (const d of r!.disagreements) {
          expect(d.holders).to.include(r!.byzantineWorker);
          expect(d.wrong).to.deep.equal([r!.byzantineWorker]);
          expect(d.heldBack).to.equal(0);
        }
      } else if (cheat === "withhold") {
        expect(r!.slashed).to.deep.equal([]);
        expect(r!.withholding.map((w) => w.worker)).to.include(r!.byzantineWorker);
      } else {
        expect(r!.slashed.map((s) => s.worker)).to.deep.equal([r!.byzantineWorker]);
        expect(r!.slashed[0].fault).to.equal(FAULT[cheat]);
        expect(BigInt(r!.slashed[0].amount)).to.be.greaterThan(0n);
        expect(r!.cheatToSlashMs).to.be.a("number");
      }
    });
  }
});
