// The slashing-protection interchange file, modelled on EIP-3076 (the format Ethereum validator
// clients use to move a key's protection from one client or machine to another): metadata naming
// the deployment, then per signing key the epochs it began and every position it signed. Numbers
// that can exceed 2^53 are decimal strings, as in EIP-3076, so that no JSON reader rounds them.
//
// Version "2" (this one): a position is (kind, epoch, stream, shard, origin_shard, seq), the
// coordinates of a header or proof of the typed data with `originShard`. The positions an earlier
// worker signed under the version-1 typed data (no origin shard; another EIP-712 type hash, so they
// can never equivocate with a version-2 signature) are carried as they were in
// `legacy_signed_headers` / `legacy_signed_proofs`, without origin_shard. Which list an entry is in
// is what makes it legacy, never a missing field: an entry of `signed_headers` / `signed_proofs`
// without `origin_shard` is refused (read as legacy, a current position would no longer be checked,
// and a different content could be signed there), and so is an entry of a legacy list with one. A
// version "1" file (an earlier worker's export) is still read: parseInterchange returns it as
// version 2 with all of its positions legacy.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { MaruError } from "../../client/errors/base.js";

/**
 * The value of `metadata.interchange_format`.
 * @example
 * ```ts
 * i.metadata.interchange_format === INTERCHANGE_FORMAT; // "maru-protection"
 * ```
 */
export const INTERCHANGE_FORMAT = "maru-protection";
/**
 * The value of `metadata.interchange_format_version` this code writes (and reads, with
 * {@link LEGACY_INTERCHANGE_FORMAT_VERSION}).
 * @example
 * ```ts
 * i.metadata.interchange_format_version === INTERCHANGE_FORMAT_VERSION; // "2"
 * ```
 */
export const INTERCHANGE_FORMAT_VERSION = "2";
/**
 * The version an earlier worker wrote (positions without an origin shard): read, as legacy positions.
 * @example
 * ```ts
 * parseInterchange(oldExport).data[0].legacy_signed_headers; // the old file's signed_headers
 * ```
 */
export const LEGACY_INTERCHANGE_FORMAT_VERSION = "1";

const UINT64_MAX = (1n << 64n) - 1n;
const decimal = (max: bigint, what: string) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]*)$/, `must be ${what} as a decimal string (no sign, no leading zeros)`)
    .refine((s) => BigInt(s) <= max, `must be at most ${max}`);
const uint64 = decimal(UINT64_MAX, "an unsigned 64-bit integer");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be an address (0x and 40 hex digits)");
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 32 bytes (0x and 64 hex digits)");

const uint32 = z
  .number()
  .int("must be an integer")
  .min(0, "must not be negative")
  .max(2 ** 32 - 1, "must fit in 32 bits");

const SignedPositionSchema = z.object({
  epoch: uint64,
  stream: bytes32,
  shard: uint32,
  origin_shard: uint32,
  seq: uint64,
  content_hash: bytes32,
});

/**
 * A position signed under the version-1 typed data (no origin shard). One with `origin_shard` is
 * refused rather than stripped: it is a current position in the wrong list, and carrying it as
 * legacy would stop protecting it.
 */
const LegacyPositionSchema = z.object({
  epoch: uint64,
  stream: bytes32,
  shard: uint32,
  origin_shard: z
    .undefined({
      errorMap: () => ({
        message:
          "a legacy position (signed under the version-1 typed data) has no origin shard: a position with one belongs in signed_headers / signed_proofs",
      }),
    })
    .optional(),
  seq: uint64,
  content_hash: bytes32,
});

const metadata = (version: string, message: string) =>
  z.object({
    interchange_format: z.literal(INTERCHANGE_FORMAT, {
      errorMap: () => ({ message: `must be "${INTERCHANGE_FORMAT}"` }),
    }),
    interchange_format_version: z.literal(version, { errorMap: () => ({ message }) }),
    chain_id: decimal(UINT64_MAX, "a chain id"),
    verifying_contract: address,
  });

/**
 * The zod schema of an interchange file; {@link parseInterchange} turns its issues into one error.
 * @example
 * ```ts
 * InterchangeSchema.safeParse(JSON.parse(text)).success;
 * ```
 */
export const InterchangeSchema = z.object({
  metadata: metadata(
    INTERCHANGE_FORMAT_VERSION,
    `must be "${INTERCHANGE_FORMAT_VERSION}" (or "${LEGACY_INTERCHANGE_FORMAT_VERSION}", an earlier worker's export)`,
  ),
  data: z.array(
    z.object({
      signing_key: address,
      epochs_begun: z.array(uint64),
      signed_headers: z.array(SignedPositionSchema),
      signed_proofs: z.array(SignedPositionSchema),
      /** Positions signed under the version-1 typed data: kept and carried, never compared with the others. */
      legacy_signed_headers: z.array(LegacyPositionSchema).default([]),
      legacy_signed_proofs: z.array(LegacyPositionSchema).default([]),
    }),
  ),
});

/**
 * The zod schema of a version-1 interchange (an earlier worker's export, no origin shards).
 * @example
 * ```ts
 * LegacyInterchangeSchema.safeParse(JSON.parse(oldText)).success;
 * ```
 */
export const LegacyInterchangeSchema = z.object({
  metadata: metadata(LEGACY_INTERCHANGE_FORMAT_VERSION, `must be "${LEGACY_INTERCHANGE_FORMAT_VERSION}"`),
  data: z.array(
    z.object({
      signing_key: address,
      epochs_begun: z.array(uint64),
      signed_headers: z.array(LegacyPositionSchema),
      signed_proofs: z.array(LegacyPositionSchema),
    }),
  ),
});

/**
 * An interchange file: what {@link readInterchange} returns and `ProtectionRecord.exportInterchange` builds.
 * @example
 * ```ts
 * const i: Interchange = {
 *   metadata: { interchange_format: "maru-protection", interchange_format_version: "2", chain_id: "31337",
 *     verifying_contract: fraudProofs },
 *   data: [{ signing_key: key, epochs_begun: ["1"], signed_headers: [], signed_proofs: [],
 *     legacy_signed_headers: [], legacy_signed_proofs: [] }],
 * };
 * ```
 */
export type Interchange = z.infer<typeof InterchangeSchema>;

/**
 * A version-1 interchange file, as an earlier worker wrote it (positions without an origin shard).
 * @example
 * ```ts
 * const old: LegacyInterchange = { metadata: { ...i.metadata, interchange_format_version: "1" },
 *   data: [{ signing_key: key, epochs_begun: ["1"], signed_headers: [p], signed_proofs: [] }] };
 * ```
 */
export type LegacyInterchange = z.infer<typeof LegacyInterchangeSchema>;

/**
 * One signed position in an interchange file.
 * @example
 * ```ts
 * const p: InterchangePosition = { epoch: "1", stream, shard: 0, origin_shard: 2, seq: "0", content_hash: hash };
 * ```
 */
export type InterchangePosition = z.infer<typeof SignedPositionSchema>;

/**
 * One position signed under the version-1 typed data (no origin shard).
 * @example
 * ```ts
 * const p: LegacyInterchangePosition = { epoch: "1", stream, shard: 0, seq: "0", content_hash: hash };
 * ```
 */
export type LegacyInterchangePosition = z.infer<typeof LegacyPositionSchema>;

/**
 * Validates a parsed JSON value as an interchange; a wrong value is a MaruError whose details name
 * each wrong field by its path (`data.0.signed_headers.2.content_hash: must be 32 bytes ...`). A
 * version-1 interchange is returned as version 2, its positions moved to the legacy lists.
 * @example
 * ```ts
 * const i = parseInterchange(JSON.parse(text), "backup.json");
 * ```
 */
export function parseInterchange(value: unknown, source = "the interchange"): Interchange {
  const version = (value as { metadata?: { interchange_format_version?: unknown } } | null)?.metadata
    ?.interchange_format_version;
  if (version === LEGACY_INTERCHANGE_FORMAT_VERSION) {
    const old = LegacyInterchangeSchema.safeParse(value);
    if (old.success)
      return {
        metadata: { ...old.data.metadata, interchange_format_version: INTERCHANGE_FORMAT_VERSION },
        data: old.data.data.map((d) => ({
          signing_key: d.signing_key,
          epochs_begun: d.epochs_begun,
          signed_headers: [],
          signed_proofs: [],
          legacy_signed_headers: d.signed_headers,
          legacy_signed_proofs: d.signed_proofs,
        })),
      };
    throw invalid(source, old.error.issues);
  }
  const parsed = InterchangeSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw invalid(source, parsed.error.issues);
}

function invalid(source: string, issues: z.ZodIssue[]): MaruError {
  return new MaruError(`${source} is not a valid slashing-protection interchange`, {
    details: issues.map((i) => `${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`),
    fix: `give a file written by exportInterchange (interchange_format "${INTERCHANGE_FORMAT}", version "${INTERCHANGE_FORMAT_VERSION}", or "${LEGACY_INTERCHANGE_FORMAT_VERSION}" from an earlier worker)`,
  });
}

/**
 * Reads and validates an interchange file.
 * @example
 * ```ts
 * record.importInterchange(readInterchange("/backup/protection.json"));
 * ```
 */
export function readInterchange(file: string): Interchange {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new MaruError(`Cannot read the slashing-protection interchange ${file}`, {
      details: [cause instanceof Error ? cause.message : String(cause)],
      fix: "give the path of a JSON file written by exportInterchange",
      cause,
    });
  }
  return parseInterchange(value, file);
}

/**
 * Validates and writes an interchange file. It is written to a temporary file, fsync'd, then renamed
 * over `file`: a crash leaves either the old file or the new one, never half of one, because a
 * half-written export that someone later imports would silently drop protection.
 * @example
 * ```ts
 * writeInterchange("/backup/protection.json", record.exportInterchange());
 * ```
 */
export function writeInterchange(file: string, i: Interchange): void {
  const valid = parseInterchange(i, "the interchange to write");
  writeAtomic(file, Buffer.from(JSON.stringify(valid, null, 2) + "\n"));
}

/**
 * Replaces `file` with `data` so that a crash leaves either the old file or the new one: written
 * to a temporary file (mode 0600), fsync'd, renamed over `file`, and the directory fsync'd.
 * @example
 * ```ts
 * writeAtomic("/var/lib/maru/protection/0xabc.jsonl", Buffer.from(text));
 * ```
 */
export function writeAtomic(file: string, data: Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

/**
 * fsyncs a directory, so that a file created or renamed in it survives a power loss. Platforms
 * that cannot open a directory (Windows) skip it: there the rename is as durable as it gets.
 * @example
 * ```ts
 * fsyncDir("/var/lib/maru/protection");
 * ```
 */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // EISDIR/EINVAL on platforms whose directories cannot be fsync'd: nothing more to do there.
  } finally {
    closeSync(fd);
  }
}
