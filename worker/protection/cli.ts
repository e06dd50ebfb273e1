// `maru-worker protection export|import|show`: moving a worker's slashing-protection record
// between machines, like EIP-3076 interchange files for Ethereum validators. Stop the worker first
// (its lock is held while it runs); import on the new machine before the worker starts there.
import { Command } from "commander";
import { Wallet } from "ethers";
import { MaruError } from "../../client/errors/base.js";
import { ProtectionRecord } from "./record.js";
import { readInterchange, writeInterchange } from "./interchange.js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The record of the signing key in MARU_SIGNING_KEY for the deployment in an addresses book. */
function openRecord(
  opts: { dataDir: string; addresses: string },
  o: { create: boolean } = { create: true },
): ProtectionRecord {
  const key = process.env.MARU_SIGNING_KEY;
  if (!key) throw new MaruError("MARU_SIGNING_KEY is not set", { fix: "export the signing key whose record this is" });
  let book: { chainId: number; contracts: { fraudProofs: string } };
  try {
    book = JSON.parse(readFileSync(opts.addresses, "utf8"));
  } catch (e) {
    throw new MaruError(`Cannot read the addresses book ${opts.addresses}`, {
      cause: e,
      fix: "pass --addresses deployments/<chainId>.json",
    });
  }
  const dir = join(opts.dataDir, "protection");
  const signingKey = new Wallet(key).address;
  if (!o.create && !existsSync(join(dir, `${signingKey.toLowerCase()}.jsonl`)))
    throw new MaruError(`No protection record for signing key ${signingKey} in ${dir}`, {
      fix: "check --data-dir and MARU_SIGNING_KEY: this key has signed nothing with that data directory",
    });
  return ProtectionRecord.open(dir, {
    signingKey,
    chainId: book.chainId,
    verifyingContract: book.contracts.fraudProofs,
  });
}

/**
 * The `protection` command of maru-worker.
 * @example
 * ```sh
 * MARU_SIGNING_KEY=0x… npm run worker -- protection export --data-dir .maru/worker --addresses book.json --out record.json
 * ```
 */
export function protectionCommand(): Command {
  const cmd = new Command("maru-worker protection").description(
    "export, import or show the slashing-protection record (stop the worker first)",
  );
  const common = (c: Command) =>
    c
      .option("--data-dir <dir>", "the worker's data directory", ".maru/worker")
      .requiredOption("--addresses <file>", "the deployment's addresses book");
  common(
    cmd
      .command("export")
      .description("write the record as an interchange file")
      .requiredOption("--out <file>", "where to write it"),
  ).action((opts) => {
    const record = openRecord(opts);
    try {
      const i = record.exportInterchange();
      writeInterchange(opts.out, i);
      const d = i.data[0];
      process.stdout.write(
        `exported ${d?.signed_headers.length ?? 0} headers, ${d?.signed_proofs.length ?? 0} proofs and ${d?.epochs_begun.length ?? 0} epochs to ${opts.out}\n`,
      );
    } finally {
      record.close();
    }
  });
  common(
    cmd
      .command("import")
      .description("merge an interchange file into the record")
      .requiredOption("--in <file>", "the file to import"),
  ).action((opts) => {
    const record = openRecord(opts);
    try {
      const r = record.importInterchange(readInterchange(opts.in));
      process.stdout.write(
        `imported ${opts.in}: ${r.added} new positions, ${r.same} already recorded, ${r.conflicts} conflicting (never signed again)\n`,
      );
    } finally {
      record.close();
    }
  });
  common(cmd.command("show").description("what the record holds")).action((opts) => {
    const record = openRecord(opts, { create: false });
    try {
      const epochs = record.epochs();
      process.stdout.write(
        `record ${record.file}\nsigning key ${record.signingKey}, chain ${record.chainId}\nepochs: ${epochs.join(", ") || "none"}\n`,
      );
    } finally {
      record.close();
    }
  });
  return cmd;
}
