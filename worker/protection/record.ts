// The worker's slashing-protection record: every (kind, epoch, stream, shard, originShard, seq) its
// signing key signed, with the content hash it signed there, durable before the signature exists.
// Signing two contents at one position is equivocation and slashable; a restart that recomputes a
// batch differently, or a second process with the same key, would do exactly that without this
// record. Modelled on Ethereum validator clients' slashing protection (EIP-3076; Lodestar's
// packages/validator/src/slashingProtection), with an append-only log instead of a database.
//
// The log (`<dir>/<signingKey>.jsonl`) is one JSON object per line: the metadata line first
// ({"t":"m"}), then "h"/"p" (a header/proof position and its content hash), "e" (an epoch begun),
// "c" (a position an import found conflicting, with the other hash). It is never compacted: it grows
// by one line, about 200 bytes, per signed position, which a worker's lifetime keeps small; a later
// change can prune epochs older than the fraud window, whose positions can no longer be slashed.
//
// Log format version 2 (this one) adds the origin shard. A position line ("h"/"p"/"c") is one of
// exactly two shapes, and says which:
//   current: {"t":"h","epoch":"4","stream":"0x…","shard":0,"originShard":1,"seq":"0","hash":"0x…"}
//   legacy:  {"t":"h","legacy":true,"epoch":"4","stream":"0x…","shard":0,"seq":"0","hash":"0x…"}
// (a "c" line has "kind":"h"|"p" after its tag). A current line carries an integer `originShard`
// and no marker; a legacy line carries `"legacy":true` and no `originShard`. Any other combination
// (neither, both, a marker that is not `true`) is corruption and the log is refused at open: a line
// is never taken for legacy because a field is missing, since a current position read as legacy
// would no longer be compared, and the record would then let a different content be signed there
// (equivocation). The record fails closed. Lines are written by two writers, currentLine (which
// takes a Signed, so it cannot be called without an origin shard) and legacyLine.
// Legacy positions are those the key signed under the version-1 typed data (a BatchHeader /
// AccumulatedProof with no originShard). Those signatures have another EIP-712 type hash, so no
// version-2 signature can equivocate with one under either slashing contract, and the worker can no
// longer sign that type at all. They are therefore kept apart: loaded, counted in the epochs the key
// took part in, exported and imported as they were (the interchange's legacy lists), but never
// compared with a version-2 position, so they can neither refuse nor allow one. Opening a version-1
// log (whose position lines have neither field, and are all legacy; a version-1 line with either
// field is refused) upgrades it in place, once: the log is rewritten as version 2, its metadata line
// with "upgradedFrom":1, each position line with the marker, each epoch line as it was; the rewrite
// goes to a temporary file, fsync'd and renamed over the log, the directory fsync'd (writeAtomic),
// so a crash at any point leaves the old file (upgraded again at the next open) or the new one,
// never a mix. An older worker refuses a version-2 log (it reads version 1 only), so a downgrade
// stops at start instead of misreading new positions.
//
// Only synchronous node:fs calls: the worker calls record() on its hot path just before signing,
// and a synchronous write + fsync keeps "durable, then sign" trivially ordered.
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { MaruError } from "../../client/errors/base.js";
import {
  INTERCHANGE_FORMAT,
  INTERCHANGE_FORMAT_VERSION,
  fsyncDir,
  writeAtomic,
  parseInterchange,
  type Interchange,
  type InterchangePosition,
  type LegacyInterchange,
  type LegacyInterchangePosition,
} from "./interchange.js";

/**
 * A position a signing key signs at: two different contents at one position equivocate. A sender
 * keeps one channel per origin shard, so positions that differ only in `originShard` are distinct.
 * @example
 * ```ts
 * const at: Position = { kind: "header", epoch: 3n, stream, shard: 1, originShard: 0, seq: 0n };
 * ```
 */
export type Position = {
  kind: "header" | "proof";
  epoch: bigint;
  stream: string;
  shard: number;
  originShard: number;
  seq: bigint;
};

/**
 * A position and the content signed there: `contentHash` is 0x and 64 lower-case hex digits
 * (a header's `contentHash(header)`, a proof's `hashAccumulatedProof(proof)`).
 * @example
 * ```ts
 * const s: Signed = { kind: "header", epoch: h.epoch, stream: h.stream, shard: h.shard,
 *   originShard: h.originShard, seq: h.seq, contentHash: contentHash(h) };
 * ```
 */
export type Signed = Position & { contentHash: string };

/**
 * A position signed under the version-1 typed data (no origin shard), as a log or interchange of
 * an earlier worker holds it: kept and carried, never compared with a {@link Signed}. It has no
 * `originShard` by type (`?: never`), so a {@link Signed} cannot be passed where a legacy position
 * is expected: a current position is never written or exported as legacy by mistake.
 * @example
 * ```ts
 * const old: LegacySigned = { kind: "header", epoch: 3n, stream, shard: 1, seq: 0n, contentHash };
 * ```
 */
export type LegacySigned = Omit<Signed, "originShard"> & { originShard?: never };

/**
 * Signing was refused: the record holds a different content at this position (or the position was
 * marked conflicting by an import). Signing anyway would be equivocation.
 * @example
 * ```ts
 * try { record.record([s]); } catch (e) { if (e instanceof SigningRefusedError) log.error(e.message); }
 * ```
 */
export class SigningRefusedError extends MaruError {
  override name = "SigningRefusedError";
  constructor(
    readonly position: Position,
    /** The content hashes recorded at the position (more than one when it is conflicting). */
    readonly recorded: string[],
    /** The content hash that was asked for. */
    readonly requested: string,
    /** The position was marked conflicting by an import: nothing more is signed there. */
    readonly conflicting: boolean,
    /** `recorded` is not in the record but earlier in the same `record()` call. */
    readonly sameBatch = false,
  ) {
    super(
      conflicting
        ? `Refusing to sign the ${describe(position)}: an import marked it conflicting (contents ${recorded.join(" and ")}), asked ${requested}`
        : `Refusing to sign the ${describe(position)}: ${recorded[0]} is ${sameBatch ? "earlier in the same batch" : "recorded there"}, asked ${requested}`,
      {
        details: [
          `${sameBatch ? "earlier in the batch" : "recorded"}: ${recorded.join(", ")}`,
          `asked: ${requested}`,
          "two contents signed at one position are equivocation, which the fraud-proof contract slashes",
        ],
        fix: conflicting
          ? "this key already signed two contents at this position somewhere; do not sign there again"
          : "send the content that was signed (it is recorded), or find why the worker computed a different one (a nondeterministic operator, inputs read differently after a restart)",
      },
    );
  }
}

/**
 * Another live process holds the record of this key (its lock file).
 * @example
 * ```ts
 * try { ProtectionRecord.open(dir, meta); } catch (e) { if (e instanceof ProtectionLockedError) process.exit(1); }
 * ```
 */
export class ProtectionLockedError extends MaruError {
  override name = "ProtectionLockedError";
  constructor(
    readonly lockFile: string,
    /** The holder as its lock file names it (undefined when the lock is unreadable). */
    readonly holder: { pid: number; hostname: string } | undefined,
    why: string,
  ) {
    super(
      holder
        ? `The slashing-protection record is held by pid ${holder.pid} on ${holder.hostname} (lock ${lockFile})`
        : `The slashing-protection record is held by another process (lock ${lockFile})`,
      {
        details: [why],
        fix: holder
          ? `stop pid ${holder.pid} on ${holder.hostname}: two processes signing with one key can equivocate; if it is dead, remove ${lockFile}`
          : `stop the other worker using this signing key; if none is running, remove ${lockFile}`,
      },
    );
  }
}

type Kind = Position["kind"];
/** The tag of a position line: a header, a proof, or a further content at a position ("c"). */
type LineTag = "h" | "p" | "c";
type Meta = { signingKey: string; chainId: number; verifyingContract: string };
type LockInfo = { pid: number; hostname: string; nonce?: string; procStart?: string };

const LOG_FORMAT = "maru-protection-log";
/** The log format version this code writes; it also reads (and upgrades) LEGACY_LOG_VERSION. */
const LOG_VERSION = 2;
const LEGACY_LOG_VERSION = 1;
const UINT64_MAX = (1n << 64n) - 1n;
const BYTES32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const KIND_TAG: Record<Kind, "h" | "p"> = { header: "h", proof: "p" };
const TAG_KIND: Record<string, Kind> = { h: "header", p: "proof" };
// A lock file is written right after it is created; one still unreadable this long after is the
// remains of a crash between the two, not a process about to finish writing it.
const UNREADABLE_LOCK_STALE_MS = 10_000;
/** Lock files this process holds (resolved paths): a second open in the same process is refused. */
const held = new Set<string>();

/**
 * The durable slashing-protection record of one signing key on one deployment. Call
 * {@link ProtectionRecord.record} with what is about to be signed; sign only after it returns.
 * @example
 * ```ts
 * const protection = ProtectionRecord.open("/var/lib/maru/protection", {
 *   signingKey: signer.address, chainId: 31337, verifyingContract: fraudProofsAddress });
 * protection.beginEpoch(epoch);
 * protection.record(headers.map((h) => ({ kind: "header", epoch: h.epoch, stream: h.stream, shard: h.shard,
 *   originShard: h.originShard, seq: h.seq, contentHash: contentHash(h) })));
 * const signatures = await Promise.all(headers.map((h) => signer.signTypedData(domain, types, h)));
 * protection.close();
 * ```
 */
export class ProtectionRecord {
  /** The log file. */
  readonly file: string;
  /** The lock file. */
  readonly lockFile: string;
  /** A warning when open took over a stale lock (its holder had died), else undefined. */
  readonly staleLockTakenOver: string | undefined;
  /**
   * The log format version open upgraded the log from (1: an earlier worker's log, whose positions
   * are now legacy), else undefined.
   */
  readonly upgradedFrom: number | undefined;
  /** Bytes of a torn last line (a crash mid-write) that open dropped; 0 when there was none. */
  readonly tornTailDropped: number;
  /** The deployment and key the record belongs to (addresses in lower case). */
  readonly chainId: number;
  /** See {@link chainId}. */
  readonly verifyingContract: string;
  /** See {@link chainId}. */
  readonly signingKey: string;

  private fd: number | undefined;
  private readonly nonce: string;
  /** Position key → the content hash recorded first there. */
  private readonly signed = new Map<string, string>();
  /** Position key → the other content hashes an import brought (the position is conflicting). */
  private readonly conflicts = new Map<string, string[]>();
  /**
   * Legacy (version-1) position key → every content hash recorded there, first one first. Never
   * consulted by check or record: those signatures are of another EIP-712 type.
   */
  private readonly legacy = new Map<string, string[]>();
  private readonly begun = new Set<bigint>();
  private readonly signedEpochs = new Set<bigint>();
  /** Set after a failed write or fsync: what is on disk is unknown, so nothing more is recorded. */
  private broken: Error | undefined;
  private readonly onExit = () => this.releaseLock();

  private constructor(file: string, lockFile: string, nonce: string, meta: Meta, stale: string | undefined) {
    this.file = file;
    this.lockFile = lockFile;
    this.nonce = nonce;
    this.chainId = meta.chainId;
    this.verifyingContract = meta.verifyingContract;
    this.signingKey = meta.signingKey;
    this.staleLockTakenOver = stale;
    this.fd = openSync(file, "a", 0o600);
    try {
      const loaded = this.load();
      this.tornTailDropped = loaded.torn;
      this.upgradedFrom = loaded.upgradedFrom;
    } catch (e) {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      throw e;
    }
    // 'exit' runs on process.exit and a normal end, not on an unhandled signal or SIGKILL: then the
    // lock stays, and the next open takes it over because its pid is dead.
    process.on("exit", this.onExit);
  }

  /**
   * Opens (creating) `<dir>/<signingKey>.jsonl` and takes `<dir>/<signingKey>.lock`. A lock whose
   * process is dead (on this host) is taken over, with a warning in {@link staleLockTakenOver}. A
   * torn last line (a crash mid-write) is dropped: it was never fsync'd, so nothing was signed on it.
   * @throws ProtectionLockedError when a live process holds the lock; MaruError when the log is
   * malformed or belongs to another deployment or key.
   * @example
   * ```ts
   * const r = ProtectionRecord.open(dir, { signingKey, chainId: 31337, verifyingContract: fraudProofs });
   * if (r.staleLockTakenOver) log.warn(r.staleLockTakenOver);
   * ```
   */
  static open(dir: string, meta: Meta): ProtectionRecord {
    const m = normalizeMeta(meta);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = resolve(join(dir, `${m.signingKey}.jsonl`));
    const lockFile = resolve(join(dir, `${m.signingKey}.lock`));
    const { nonce, stale } = acquireLock(lockFile);
    try {
      return new ProtectionRecord(file, lockFile, nonce, m, stale);
    } catch (e) {
      releaseLock(lockFile, nonce);
      throw e;
    }
  }

  /**
   * Whether `s` may be signed: "new" when nothing is recorded at its position, "same" when this
   * content is. Records nothing: call {@link record} before signing.
   * @throws SigningRefusedError for another content, or a position an import marked conflicting.
   * @example
   * ```ts
   * if (r.check(s) === "same") resendRecordedSignature(s);
   * ```
   */
  check(s: Signed): "new" | "same" {
    this.usable();
    const n = normalizeSigned(s);
    return this.verdict(keyOf(n), n);
  }

  /**
   * Checks every entry, then appends the new ones and fsyncs once before returning. All or nothing:
   * if any entry conflicts (with the record, or with another entry of the same call), nothing is
   * recorded and it throws.
   * @throws SigningRefusedError on a conflict; MaruError when the write or fsync fails (the record
   * then refuses all further use: reopen it).
   * @example
   * ```ts
   * r.record(batch.map(toSigned)); // durable now
   * const sigs = await Promise.all(batch.map(sign));
   * ```
   */
  record(entries: Signed[]): void {
    this.usable();
    const fresh = new Map<string, Signed>();
    for (const s of entries) {
      const n = normalizeSigned(s);
      const key = keyOf(n);
      if (this.verdict(key, n) === "same") continue;
      const earlier = fresh.get(key);
      if (earlier === undefined) fresh.set(key, n);
      else if (earlier.contentHash !== n.contentHash)
        throw new SigningRefusedError(positionOf(n), [earlier.contentHash], n.contentHash, false, true);
    }
    if (fresh.size === 0) return;
    let text = "";
    for (const n of fresh.values()) text += currentLine(KIND_TAG[n.kind], n);
    this.append(text);
    for (const [key, n] of fresh) {
      this.signed.set(key, n.contentHash);
      this.signedEpochs.add(n.epoch);
    }
  }

  /**
   * Durably marks that this key may sign in `epoch` (fsync'd); a no-op when it already is.
   * @example
   * ```ts
   * if (!r.hasEpoch(epoch)) r.beginEpoch(epoch);
   * ```
   */
  beginEpoch(epoch: bigint): void {
    this.usable();
    checkUint64(epoch, "epoch");
    if (this.begun.has(epoch)) return;
    this.append(JSON.stringify({ t: "e", epoch: epoch.toString() }) + "\n");
    this.begun.add(epoch);
  }

  /**
   * Whether `epoch` was begun, or any position in it was recorded.
   * @example
   * ```ts
   * r.hasEpoch(3n); // true after r.beginEpoch(3n)
   * ```
   */
  hasEpoch(epoch: bigint): boolean {
    return this.begun.has(epoch) || this.signedEpochs.has(epoch);
  }

  /**
   * Every epoch {@link hasEpoch} is true of, ascending.
   * @example
   * ```ts
   * const last = r.epochs().at(-1); // the latest epoch this key took part in
   * ```
   */
  epochs(): bigint[] {
    return [...new Set([...this.begun, ...this.signedEpochs])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * How many positions the record holds: `current` (with an origin shard, checked before signing)
   * and `legacy` (signed under the version-1 typed data; kept and exported, never compared).
   * @example
   * ```ts
   * const { current, legacy } = r.positions();
   * ```
   */
  positions(): { current: number; legacy: number } {
    return { current: this.signed.size, legacy: this.legacy.size };
  }

  /**
   * Closes the log and releases the lock; idempotent.
   * @example
   * ```ts
   * process.on("SIGTERM", () => { r.close(); process.exit(0); });
   * ```
   */
  close(): void {
    if (this.fd === undefined) return;
    process.off("exit", this.onExit);
    closeSync(this.fd);
    this.fd = undefined;
    this.releaseLock();
  }

  /**
   * The record as an interchange: its epochs and positions, sorted. A conflicting position appears
   * once per content, so importing the export elsewhere marks it conflicting there too. Legacy
   * positions go to `legacy_signed_headers` / `legacy_signed_proofs`, as they were recorded.
   * @example
   * ```ts
   * writeInterchange("protection.json", r.exportInterchange());
   * ```
   */
  exportInterchange(): Interchange {
    const headers: (InterchangePosition & { key: Position })[] = [];
    const proofs: (InterchangePosition & { key: Position })[] = [];
    for (const [key, hash] of this.signed) {
      const p = parseKey(key);
      for (const h of [hash, ...(this.conflicts.get(key) ?? [])]) {
        const row = {
          epoch: p.epoch.toString(),
          stream: p.stream,
          shard: p.shard,
          origin_shard: p.originShard,
          seq: p.seq.toString(),
          content_hash: h,
          key: p,
        };
        (p.kind === "header" ? headers : proofs).push(row);
      }
    }
    const legacyHeaders: (LegacyInterchangePosition & { key: LegacyPosition })[] = [];
    const legacyProofs: (LegacyInterchangePosition & { key: LegacyPosition })[] = [];
    for (const [key, hashes] of this.legacy) {
      const p = parseLegacyKey(key);
      for (const h of hashes) {
        const row = { epoch: p.epoch.toString(), stream: p.stream, shard: p.shard, seq: p.seq.toString() };
        (p.kind === "header" ? legacyHeaders : legacyProofs).push({ ...row, content_hash: h, key: p });
      }
    }
    const strip = <R extends { key: LegacyPosition }>(rows: R[]): Omit<R, "key">[] =>
      rows.sort((a, b) => comparePositions(a.key, b.key)).map(({ key: _key, ...row }) => row);
    return {
      metadata: {
        interchange_format: INTERCHANGE_FORMAT,
        interchange_format_version: INTERCHANGE_FORMAT_VERSION,
        chain_id: String(this.chainId),
        verifying_contract: this.verifyingContract,
      },
      data: [
        {
          signing_key: this.signingKey,
          epochs_begun: [...this.begun].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String),
          signed_headers: strip(headers),
          signed_proofs: strip(proofs),
          legacy_signed_headers: strip(legacyHeaders),
          legacy_signed_proofs: strip(legacyProofs),
        },
      ],
    };
  }

  /**
   * Merges an interchange into the record: the union of positions and begun epochs. Where the
   * imported content differs from the recorded one the position becomes conflicting, and every later
   * check of it throws (EIP-3076's advice: a key that signed two contents somewhere must not sign
   * there again). Only the data of this record's key is read; other keys' data is ignored. Durable
   * (one fsync) before it returns. The counts are of positions, legacy ones included; `legacy` is
   * how many of the imported rows were legacy (version-1 typed data: an interchange of version "1",
   * or the legacy lists of version "2"); they are kept apart and never block a new position.
   * @throws MaruError when the interchange is invalid, of another chain or verifying contract, or
   * has no data for this key.
   * @example
   * ```ts
   * const { added, same, conflicts } = r.importInterchange(readInterchange("old-machine.json"));
   * ```
   */
  importInterchange(i: Interchange | LegacyInterchange): {
    added: number;
    same: number;
    conflicts: number;
    legacy: number;
  } {
    this.usable();
    const v = parseInterchange(i);
    const mismatches: string[] = [];
    if (BigInt(v.metadata.chain_id) !== BigInt(this.chainId))
      mismatches.push(`chain_id: ${v.metadata.chain_id}, this record's: ${this.chainId}`);
    if (v.metadata.verifying_contract.toLowerCase() !== this.verifyingContract)
      mismatches.push(`verifying_contract: ${v.metadata.verifying_contract}, this record's: ${this.verifyingContract}`);
    if (mismatches.length)
      throw new MaruError(`The interchange belongs to another deployment than the record ${this.file}`, {
        details: mismatches,
        fix: "import the export of this chain's FraudProofs deployment; protection of another deployment does not apply here",
      });
    const mine = v.data.filter((d) => d.signing_key.toLowerCase() === this.signingKey);
    if (mine.length === 0)
      throw new MaruError(`The interchange has no data for the signing key ${this.signingKey}`, {
        details: [`signing keys in it: ${v.data.map((d) => d.signing_key).join(", ") || "(none)"}`],
        fix: "import the export of this signing key's record",
      });

    const addSigned = new Map<string, Signed>();
    const addConflicts = new Map<string, string[]>();
    const addLegacy = new Map<string, string[]>();
    const addEpochs = new Set<bigint>();
    const counts = { added: 0, same: 0, conflicts: 0, legacy: 0 };
    let text = "";
    for (const d of mine) {
      for (const e of d.epochs_begun.map(BigInt)) {
        if (this.begun.has(e) || addEpochs.has(e)) continue;
        addEpochs.add(e);
        text += JSON.stringify({ t: "e", epoch: e.toString() }) + "\n";
      }
      const rows = [
        ...d.signed_headers.map((p) => [p, "header"] as const),
        ...d.signed_proofs.map((p) => [p, "proof"] as const),
      ];
      for (const [p, kind] of rows) {
        const n = normalizeSigned({
          kind,
          epoch: BigInt(p.epoch),
          stream: p.stream,
          shard: p.shard,
          originShard: p.origin_shard,
          seq: BigInt(p.seq),
          contentHash: p.content_hash,
        });
        const key = keyOf(n);
        const first = this.signed.get(key) ?? addSigned.get(key)?.contentHash;
        if (first === undefined) {
          addSigned.set(key, n);
          text += currentLine(KIND_TAG[kind], n);
          counts.added++;
          continue;
        }
        const known = [first, ...(this.conflicts.get(key) ?? []), ...(addConflicts.get(key) ?? [])];
        if (known.includes(n.contentHash)) {
          counts.same++;
          continue;
        }
        addConflicts.set(key, [...(addConflicts.get(key) ?? []), n.contentHash]);
        text += currentLine("c", n);
        counts.conflicts++;
      }
      const legacyRows = [
        ...d.legacy_signed_headers.map((p) => [p, "header"] as const),
        ...d.legacy_signed_proofs.map((p) => [p, "proof"] as const),
      ];
      for (const [p, kind] of legacyRows) {
        counts.legacy++;
        const n = normalizeLegacy({
          kind,
          epoch: BigInt(p.epoch),
          stream: p.stream,
          shard: p.shard,
          seq: BigInt(p.seq),
          contentHash: p.content_hash,
        });
        const key = legacyKeyOf(n);
        const known = [...(this.legacy.get(key) ?? []), ...(addLegacy.get(key) ?? [])];
        if (known.includes(n.contentHash)) {
          counts.same++;
          continue;
        }
        addLegacy.set(key, [...(addLegacy.get(key) ?? []), n.contentHash]);
        // Like the log of an earlier worker (upgraded): the first content as "h"/"p", a further one
        // as "c", each marked legacy.
        text += legacyLine(known.length === 0 ? KIND_TAG[kind] : "c", n);
        if (known.length === 0) counts.added++;
        else counts.conflicts++;
      }
    }
    if (text) this.append(text);
    for (const e of addEpochs) this.begun.add(e);
    for (const [key, n] of addSigned) {
      this.signed.set(key, n.contentHash);
      this.signedEpochs.add(n.epoch);
    }
    for (const [key, hs] of addConflicts) this.conflicts.set(key, [...(this.conflicts.get(key) ?? []), ...hs]);
    for (const [key, hs] of addLegacy) {
      this.legacy.set(key, [...(this.legacy.get(key) ?? []), ...hs]);
      this.signedEpochs.add(parseLegacyKey(key).epoch);
    }
    return counts;
  }

  private verdict(key: string, n: Signed): "new" | "same" {
    const recorded = this.signed.get(key);
    if (recorded === undefined) return "new";
    const others = this.conflicts.get(key);
    if (others !== undefined) throw new SigningRefusedError(positionOf(n), [recorded, ...others], n.contentHash, true);
    if (recorded === n.contentHash) return "same";
    throw new SigningRefusedError(positionOf(n), [recorded], n.contentHash, false);
  }

  private usable(): void {
    if (this.fd === undefined)
      throw new MaruError(`The slashing-protection record ${this.file} is closed`, {
        fix: "open it again with ProtectionRecord.open",
      });
    if (this.broken) throw this.broken;
  }

  /** Appends whole lines with one write loop and one fsync. */
  private append(text: string): void {
    const fd = this.fd!;
    const buf = Buffer.from(text);
    // The lock is re-read on every write (tens of µs against a fsync): if someone removed it while
    // this process runs, a second process may be signing with this key too, so stop signing here.
    if (lockNonce(this.lockFile) !== this.nonce) {
      this.broken = new MaruError(`This process's lock on the slashing-protection record ${this.file} is gone`, {
        details: [`${this.lockFile} was removed or replaced while the record was open; nothing more is signed`],
        fix: "make sure only one worker runs with this signing key, then restart this one",
      });
      throw this.broken;
    }
    try {
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
      fsyncSync(fd);
    } catch (cause) {
      // After a failed write or fsync the kernel's view of the file is no longer to be trusted (a
      // failed fsync can drop dirty pages and still report the next one as a success), so stop
      // here; reopening re-reads what is really on disk and drops a torn tail.
      this.broken = new MaruError(
        `Writing the slashing-protection record ${this.file} failed; nothing more is signed`,
        {
          details: [cause instanceof Error ? cause.message : String(cause)],
          fix: "fix the disk (space, permissions, errors), then restart the worker: it reopens the record from disk",
          cause,
        },
      );
      throw this.broken;
    }
  }

  /**
   * Reads the log into memory (upgrading a version-1 log to version 2); returns the bytes of a torn
   * tail it dropped, and the version it upgraded from.
   */
  private load(): { torn: number; upgradedFrom: number | undefined } {
    const fd = this.fd!;
    const buf = readFileSync(this.file);
    const end = buf.lastIndexOf(0x0a) + 1;
    const torn = buf.length - end;
    if (torn > 0) {
      ftruncateSync(fd, end);
      fsyncSync(fd);
    }
    if (end === 0) {
      // New (or the metadata line itself was torn by a crash at creation): write the metadata.
      const b = Buffer.from(this.metaLine());
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
      fsyncSync(fd);
      fsyncDir(dirname(this.file));
      return { torn, upgradedFrom: undefined };
    }
    const lines = buf
      .subarray(0, end - 1)
      .toString("utf8")
      .split("\n");
    const version = this.checkMetaLine(lines[0]);
    // A version-1 log is rewritten as it is read: each position line with the legacy marker.
    let upgraded = "";
    for (let i = 1; i < lines.length; i++) {
      const legacy = this.loadLine(lines[i], i + 1, version);
      if (version !== LOG_VERSION) upgraded += legacy ? legacyLine(legacy.tag, legacy.position) : lines[i] + "\n";
    }
    if (version === LOG_VERSION) return { torn, upgradedFrom: undefined };
    this.upgrade(upgraded, version);
    return { torn, upgradedFrom: version };
  }

  private metaLine(upgradedFrom?: number): string {
    const meta = { t: "m", format: LOG_FORMAT, version: LOG_VERSION, chainId: this.chainId };
    const line = { ...meta, verifyingContract: this.verifyingContract, signingKey: this.signingKey };
    return JSON.stringify(upgradedFrom === undefined ? line : { ...line, upgradedFrom }) + "\n";
  }

  /**
   * Rewrites a log of an older version as version 2: a new metadata line (with `upgradedFrom`),
   * then `rest` (its other lines, in order: each position line rewritten with the legacy marker,
   * each epoch line as it was). Written to a temporary file, fsync'd, renamed over the log (atomic),
   * the directory fsync'd (writeAtomic): a crash at any point leaves the old log, which is upgraded
   * again at the next open, or the new one. Then the log is reopened for appending.
   */
  private upgrade(rest: string, from: number): void {
    writeAtomic(this.file, Buffer.from(this.metaLine(from) + rest));
    closeSync(this.fd!);
    this.fd = undefined;
    this.fd = openSync(this.file, "a", 0o600);
  }

  private corrupt(lineNo: number, line: string, why: string, fix?: string): MaruError {
    return new MaruError(`The slashing-protection record ${this.file} is malformed at line ${lineNo}`, {
      details: [why, `line ${lineNo}: ${line.length > 200 ? line.slice(0, 200) + "…" : line}`],
      fix:
        (fix ? fix + "; or " : "") +
        "restore the file from a backup, or open a new record and import an interchange export; do not just delete it: without it the worker may sign twice and be slashed",
    });
  }

  /** Checks the metadata line; returns the log's format version. */
  private checkMetaLine(line: string): number {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line);
    } catch {
      throw this.corrupt(1, line, "the metadata line is not JSON");
    }
    if (m?.t !== "m" || m.format !== LOG_FORMAT || (m.version !== LOG_VERSION && m.version !== LEGACY_LOG_VERSION))
      throw this.corrupt(
        1,
        line,
        `the first line must be the metadata line of a ${LOG_FORMAT} version ${LOG_VERSION} (or ${LEGACY_LOG_VERSION}, which is upgraded)`,
      );
    const want = { chainId: this.chainId, verifyingContract: this.verifyingContract, signingKey: this.signingKey };
    const wrong = (Object.keys(want) as (keyof typeof want)[]).filter((k) => m[k] !== want[k]);
    if (wrong.length)
      throw new MaruError(`The slashing-protection record ${this.file} belongs to another deployment or key`, {
        details: wrong.map((k) => `${k}: recorded ${String(m[k])}, given ${want[k]}`),
        fix: "give this worker the protection directory of this deployment and signing key (a record protects one key on one chain and FraudProofs contract)",
      });
    return m.version as number;
  }

  /**
   * Reads one line after the metadata line into memory. Returns the tag and position of a position
   * line of a version-1 log (all legacy: what the upgrade rewrites with the marker), else undefined.
   * In a version-2 log a position line must be exactly one of the two shapes (see the top): current
   * (an integer `originShard`, no marker) or legacy (`"legacy":true`, no `originShard`).
   */
  private loadLine(
    line: string,
    lineNo: number,
    version: number,
  ): { tag: LineTag; position: LegacySigned } | undefined {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      throw this.corrupt(lineNo, line, "not JSON");
    }
    if (o === null || typeof o !== "object" || Array.isArray(o)) throw this.corrupt(lineNo, line, "not a JSON object");
    if (o.t === "e") {
      this.begun.add(this.field(o, "epoch", lineNo, line) as bigint);
      return undefined;
    }
    const kind = o.t === "c" ? TAG_KIND[String(o.kind)] : TAG_KIND[String(o.t)];
    if (kind === undefined) throw this.corrupt(lineNo, line, `unknown line type ${JSON.stringify(o.t)}`);
    const tag = o.t as LineTag;
    const l: LegacySigned = {
      kind,
      epoch: this.field(o, "epoch", lineNo, line) as bigint,
      stream: this.field(o, "stream", lineNo, line) as string,
      shard: this.field(o, "shard", lineNo, line) as number,
      seq: this.field(o, "seq", lineNo, line) as bigint,
      contentHash: this.field(o, "hash", lineNo, line) as string,
    };
    // JSON has no undefined: a field is there (with some value) or it is not.
    const origin = o.originShard !== undefined;
    const marked = o.legacy !== undefined;
    if (version < LOG_VERSION) {
      // Every position of a version-1 log is legacy; that version wrote neither field.
      if (origin) throw this.corrupt(lineNo, line, `a version ${version} log has no origin shards`);
      if (marked) throw this.corrupt(lineNo, line, `a version ${version} log has no "legacy" marker`);
      this.addLegacy(l);
      return { tag, position: l };
    }
    if (marked && o.legacy !== true)
      throw this.corrupt(
        lineNo,
        line,
        `"legacy" is ${JSON.stringify(o.legacy)}: the marker of a legacy position is "legacy":true, and a current position has no "legacy" field`,
      );
    if (marked && origin)
      throw this.corrupt(
        lineNo,
        line,
        `the position line has both "originShard" and "legacy":true: a position is either current (with its origin shard, no marker) or legacy (signed under the version-1 typed data: the marker, no origin shard), never both, so which one was signed is unknown`,
        `if this line was edited by hand, remove the field it did not have`,
      );
    if (!marked && !origin)
      throw this.corrupt(
        lineNo,
        line,
        `the position line has neither "originShard" nor "legacy":true: a current position must name its origin shard and a legacy one must be marked; it is not taken for legacy, since a current position read as legacy would no longer be checked and a different content could be signed there`,
        `if this line was edited by hand, put its "originShard" back (never mark a position this worker signed with an origin shard as legacy: it would stop protecting it)`,
      );
    if (marked) {
      // A position signed under the version-1 typed data: kept apart, never compared (see the top).
      this.addLegacy(l);
      return undefined;
    }
    const n: Signed = { ...l, originShard: this.field(o, "originShard", lineNo, line) as number };
    const key = keyOf(n);
    this.signedEpochs.add(n.epoch);
    const first = this.signed.get(key);
    if (first === undefined) this.signed.set(key, n.contentHash);
    else if (first !== n.contentHash && !this.conflicts.get(key)?.includes(n.contentHash))
      // Only import writes "c" lines; a second "h"/"p" with another content cannot come from this
      // code, but if it is there the key did sign both somewhere: keep both, as a conflict.
      this.conflicts.set(key, [...(this.conflicts.get(key) ?? []), n.contentHash]);
    return undefined;
  }

  /** Adds a legacy position's content hash (once) and its epoch. */
  private addLegacy(l: LegacySigned): void {
    const key = legacyKeyOf(l);
    const hashes = this.legacy.get(key) ?? [];
    if (!hashes.includes(l.contentHash)) this.legacy.set(key, [...hashes, l.contentHash]);
    this.signedEpochs.add(l.epoch);
  }

  private field(o: Record<string, unknown>, name: string, lineNo: number, line: string): bigint | string | number {
    const v = o[name];
    if (name === "epoch" || name === "seq") {
      if (typeof v === "string" && DECIMAL.test(v) && BigInt(v) <= UINT64_MAX) return BigInt(v);
    } else if (name === "shard" || name === "originShard") {
      if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
    } else if (typeof v === "string" && BYTES32.test(v)) return v;
    throw this.corrupt(lineNo, line, `field "${name}" is missing or malformed`);
  }

  private releaseLock(): void {
    releaseLock(this.lockFile, this.nonce);
  }
}

function describe(p: Position): string {
  return `${p.kind} at epoch ${p.epoch}, stream ${p.stream}, shard ${p.shard}, origin shard ${p.originShard}, seq ${p.seq}`;
}

type LegacyPosition = Omit<Position, "originShard">;

function keyOf(s: Signed): string {
  return `${s.kind}|${s.epoch}|${s.stream}|${s.shard}|${s.originShard}|${s.seq}`;
}

function parseKey(key: string): Position {
  const [kind, epoch, stream, shard, originShard, seq] = key.split("|");
  return {
    kind: kind as Kind,
    epoch: BigInt(epoch),
    stream,
    shard: Number(shard),
    originShard: Number(originShard),
    seq: BigInt(seq),
  };
}

/** Keys of legacy positions live in their own map: they never meet a {@link keyOf} key. */
function legacyKeyOf(s: LegacySigned): string {
  return `${s.kind}|${s.epoch}|${s.stream}|${s.shard}|${s.seq}`;
}

function parseLegacyKey(key: string): LegacyPosition {
  const [kind, epoch, stream, shard, seq] = key.split("|");
  return { kind: kind as Kind, epoch: BigInt(epoch), stream, shard: Number(shard), seq: BigInt(seq) };
}

function positionOf(s: Signed): Position {
  return { kind: s.kind, epoch: s.epoch, stream: s.stream, shard: s.shard, originShard: s.originShard, seq: s.seq };
}

/** Orders by epoch, stream, shard, origin shard (legacy positions have none), seq. */
function comparePositions(a: LegacyPosition & { originShard?: number }, b: LegacyPosition & { originShard?: number }) {
  const c = (x: bigint | number | string, y: bigint | number | string) => (x < y ? -1 : x > y ? 1 : 0);
  return (
    c(a.epoch, b.epoch) ||
    c(a.stream, b.stream) ||
    c(a.shard, b.shard) ||
    c(a.originShard ?? -1, b.originShard ?? -1) ||
    c(a.seq, b.seq)
  );
}

/**
 * The line of a current position: an "h"/"p" line, or a "c" line (which names the kind, since its
 * tag does not), always with its integer `originShard` and never the legacy marker:
 * `{"t":"h","epoch":"4","stream":"0x…","shard":0,"originShard":1,"seq":"0","hash":"0x…"}`. It takes
 * a {@link Signed}, whose `originShard` is required, and checks it again: no current position is
 * ever written without it (it would not read back as one).
 */
function currentLine(t: LineTag, n: Signed): string {
  checkUint32(n.originShard, "origin shard");
  return (
    JSON.stringify({
      t,
      ...(t === "c" ? { kind: KIND_TAG[n.kind] } : {}),
      epoch: n.epoch.toString(),
      stream: n.stream,
      shard: n.shard,
      originShard: n.originShard,
      seq: n.seq.toString(),
      hash: n.contentHash,
    }) + "\n"
  );
}

/**
 * The line of a legacy position (signed under the version-1 typed data): the explicit marker and no
 * `originShard`: `{"t":"h","legacy":true,"epoch":"4","stream":"0x…","shard":0,"seq":"0","hash":"0x…"}`
 * ("c" lines with "kind" after the tag). A {@link Signed} does not type-check here
 * ({@link LegacySigned} has `originShard?: never`), and one passed anyway is refused.
 */
function legacyLine(t: LineTag, l: LegacySigned): string {
  if (l.originShard !== undefined)
    throw new MaruError("A position with an origin shard cannot be recorded as a legacy position", {
      details: [`origin shard ${String(l.originShard)}`],
      fix: "this is a bug: record it as a current position",
    });
  return (
    JSON.stringify({
      t,
      ...(t === "c" ? { kind: KIND_TAG[l.kind] } : {}),
      legacy: true,
      epoch: l.epoch.toString(),
      stream: l.stream,
      shard: l.shard,
      seq: l.seq.toString(),
      hash: l.contentHash,
    }) + "\n"
  );
}

function checkUint64(v: unknown, name: string): void {
  if (typeof v !== "bigint" || v < 0n || v > UINT64_MAX)
    throw new MaruError(`Invalid ${name} ${String(v)}: must be a bigint in [0, 2^64)`);
}

function checkUint32(v: unknown, name: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new MaruError(`Invalid ${name} ${String(v)}: must be an integer in [0, 2^32)`);
}

/** Validates a Signed and lower-cases its hex, so that keys and comparisons are exact. */
function normalizeSigned(s: Signed): Signed {
  // A missing origin shard is refused, never read as a legacy position: only logs and interchanges
  // of an earlier worker hold those.
  const { originShard, ...rest } = s;
  checkUint32(originShard, "origin shard");
  return { ...normalizeLegacy(rest), originShard };
}

/** Validates a legacy position (or the part of a Signed without the origin shard), lower-casing its hex. */
function normalizeLegacy(s: LegacySigned): LegacySigned {
  if (s.kind !== "header" && s.kind !== "proof")
    throw new MaruError(`Invalid kind ${JSON.stringify(s.kind)}: must be "header" or "proof"`);
  checkUint64(s.epoch, "epoch");
  checkUint64(s.seq, "seq");
  checkUint32(s.shard, "shard");
  const stream = typeof s.stream === "string" ? s.stream.toLowerCase() : "";
  const contentHash = typeof s.contentHash === "string" ? s.contentHash.toLowerCase() : "";
  if (!BYTES32.test(stream)) throw new MaruError(`Invalid stream ${String(s.stream)}: must be 0x and 64 hex digits`);
  if (!BYTES32.test(contentHash))
    throw new MaruError(`Invalid content hash ${String(s.contentHash)}: must be 0x and 64 hex digits`);
  return { kind: s.kind, epoch: s.epoch, stream, shard: s.shard, seq: s.seq, contentHash };
}

function normalizeMeta(meta: Meta): Meta {
  const signingKey = String(meta.signingKey).toLowerCase();
  const verifyingContract = String(meta.verifyingContract).toLowerCase();
  if (!ADDRESS.test(signingKey))
    throw new MaruError(`Invalid signing key address ${meta.signingKey}: must be 0x and 40 hex digits`);
  if (!ADDRESS.test(verifyingContract))
    throw new MaruError(`Invalid verifying contract ${meta.verifyingContract}: must be 0x and 40 hex digits`);
  if (!Number.isSafeInteger(meta.chainId) || meta.chainId <= 0)
    throw new MaruError(`Invalid chain id ${meta.chainId}: must be a positive integer`);
  return { signingKey, chainId: meta.chainId, verifyingContract };
}

// --- the lock ---------------------------------------------------------------------------------

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** The lock file's text and parsed content (info undefined when unreadable); undefined when absent. */
function readLock(lockFile: string): { raw: string; info?: LockInfo; mtimeMs: number } | undefined {
  let raw: string;
  let mtimeMs: number;
  try {
    raw = readFileSync(lockFile, "utf8");
    mtimeMs = statSync(lockFile).mtimeMs;
  } catch (e) {
    if (errno(e) === "ENOENT") return undefined;
    throw e;
  }
  try {
    const o = JSON.parse(raw);
    if (Number.isSafeInteger(o?.pid) && o.pid > 0 && typeof o.hostname === "string") return { raw, info: o, mtimeMs };
  } catch {
    // unreadable: judged by its age
  }
  return { raw, mtimeMs };
}

/** The nonce in the lock file, read with one call: this runs before every write. */
function lockNonce(lockFile: string): string | undefined {
  try {
    return JSON.parse(readFileSync(lockFile, "utf8"))?.nonce;
  } catch {
    return undefined;
  }
}

/** Linux: the start time of a process (in clock ticks since boot), telling a reused pid apart. */
function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === "EPERM";
  }
}

function judgeLock(lockFile: string, seen: { info?: LockInfo; mtimeMs: number }): { live: boolean; why: string } {
  const info = seen.info;
  if (info === undefined)
    return Date.now() - seen.mtimeMs > UNREADABLE_LOCK_STALE_MS
      ? { live: false, why: "the lock file is unreadable and old (a crash right after creating it)" }
      : { live: true, why: "the lock file is being written by a process that is starting" };
  if (info.hostname !== hostname())
    return { live: true, why: `it was taken on host ${info.hostname}; from ${hostname()} its pid cannot be checked` };
  if (info.pid === process.pid)
    return held.has(lockFile)
      ? { live: true, why: "this process already has the record open" }
      : { live: false, why: `pid ${info.pid} is this process, which did not take it (an earlier process had its pid)` };
  if (!isAlive(info.pid)) return { live: false, why: `pid ${info.pid} is not running` };
  const now = info.procStart === undefined ? undefined : procStart(info.pid);
  if (now !== undefined && now !== info.procStart)
    return { live: false, why: `pid ${info.pid} is now another process (it started later than the lock's holder)` };
  return { live: true, why: `pid ${info.pid} is running on this host` };
}

/**
 * Moves a stale lock aside. Rename is atomic, so of two processes taking over one stale lock only
 * one moves it; the other, if it moves the lock the first has just written instead, sees that the
 * content differs and puts it back. (Three processes starting at once over one stale lock can still
 * race; one key is meant to run in one worker, and the lock is there to catch the mistake.)
 */
function claimStale(lockFile: string, raw: string): boolean {
  const aside = `${lockFile}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(lockFile, aside);
  } catch (e) {
    if (errno(e) === "ENOENT") return false;
    throw e;
  }
  let moved: string | undefined;
  try {
    moved = readFileSync(aside, "utf8");
  } catch {
    moved = undefined;
  }
  if (moved !== raw) {
    try {
      linkSync(aside, lockFile);
    } catch {
      // A newer lock is already in place; the one moved aside loses its lock, and its next write fails.
    }
  }
  unlinkSync(aside);
  return moved === raw;
}

function acquireLock(lockFile: string): { nonce: string; stale: string | undefined } {
  const nonce = randomBytes(8).toString("hex");
  const me: LockInfo & { since: string } = {
    pid: process.pid,
    hostname: hostname(),
    nonce,
    procStart: procStart(process.pid),
    since: new Date().toISOString(),
  };
  let stale: string | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockFile, "wx", 0o600);
    } catch (e) {
      if (errno(e) !== "EEXIST") throw e;
      const seen = readLock(lockFile);
      if (seen === undefined) continue;
      const verdict = judgeLock(lockFile, seen);
      if (verdict.live) throw new ProtectionLockedError(lockFile, seen.info, verdict.why);
      if (claimStale(lockFile, seen.raw))
        stale =
          `Took over the stale slashing-protection lock ${lockFile}` +
          (seen.info ? ` of pid ${seen.info.pid} on ${seen.info.hostname}` : "") +
          `: ${verdict.why}`;
      continue;
    }
    // Not fsync'd: after a power loss no process holds the lock, so losing it is the right outcome.
    try {
      const b = Buffer.from(JSON.stringify(me) + "\n");
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off);
    } catch (e) {
      closeSync(fd);
      unlinkSync(lockFile);
      throw e;
    }
    closeSync(fd);
    held.add(lockFile);
    return { nonce, stale };
  }
  throw new ProtectionLockedError(lockFile, undefined, "the lock kept changing while this process tried to take it");
}

function releaseLock(lockFile: string, nonce: string): void {
  if (!held.has(lockFile)) return;
  held.delete(lockFile);
  try {
    if (lockNonce(lockFile) === nonce) unlinkSync(lockFile);
  } catch {
    // Best effort (this also runs in an 'exit' handler): a lock left behind is taken over as stale.
  }
}
