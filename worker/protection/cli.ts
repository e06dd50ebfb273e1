// `maru-worker protection export|import|show`: moving a worker's slashing-protection record
// between machines, like EIP-3076 interchange files for Ethereum validators. Stop the worker first
// (its lock is held while it runs); import on the new machine before the worker starts there.
// Positions a key signed under the earlier typed data (no origin shard: a version-1 record or
// export) are legacy: marked `"legacy":true` in the log and listed apart in the interchange, carried
// through export and import as they were, never compared with new ones (worker/protection/record.ts
// explains why that is safe, and why a position that is not explicitly legacy is never taken for one).
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
  const record = ProtectionRecord.open(dir, {
    signingKey,
    chainId: book.chainId,
    verifyingContract: book.contracts.fraudProofs,
  });
  if (record.upgradedFrom !== undefined)
    process.stderr.write(
      `upgraded ${record.file} from log format version ${record.upgradedFrom}: its ${record.positions().legacy} positions are now marked legacy (no origin shard), kept but never compared\n`,
    );
  return record;
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
      const legacy = (d?.legacy_signed_headers.length ?? 0) + (d?.legacy_signed_proofs.length ?? 0);
      process.stdout.write(
        `exported ${d?.signed_headers.length ?? 0} headers, ${d?.signed_proofs.length ?? 0} proofs, ${legacy} legacy positions (no origin shard) and ${d?.epochs_begun.length ?? 0} epochs to ${opts.out}\n`,
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
        `imported ${opts.in}: ${r.added} new positions, ${r.same} already recorded, ${r.conflicts} conflicting (never signed again); ${r.legacy} of them legacy (no origin shard: kept, never compared)\n`,
      );
    } finally {
      record.close();
    }
  });
  common(cmd.command("show").description("what the record holds")).action((opts) => {
    const record = openRecord(opts, { create: false });
    try {
      const epochs = record.epochs();
      const { current, legacy } = record.positions();
      process.stdout.write(
        `record ${record.file}\nsigning key ${record.signingKey}, chain ${record.chainId}\nepochs: ${epochs.join(", ") || "none"}\n` +
          `positions: ${current}, and ${legacy} legacy (signed without an origin shard: kept, never compared)\n`,
      );
    } finally {
      record.close();
    }
  });
  return cmd;
}
