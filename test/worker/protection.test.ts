// The worker's slashing-protection record: a position is signed with one content only, across
// restarts, crashes (a torn last line, SIGKILL) and a second process; export and import carry it
// to another machine and keep a position that was signed twice somewhere unsignable. Positions
// are per origin shard; a record of the previous format (no origin shard) is kept as legacy
// positions that never block a new one.
import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { MaruError } from "../../client/errors/base.js";
import {
  ProtectionLockedError,
  ProtectionRecord,
  SigningRefusedError,
  type Signed,
} from "../../worker/protection/record.js";
import {
  readInterchange,
  writeInterchange,
  type Interchange,
  type LegacyInterchange,
} from "../../worker/protection/interchange.js";

const META = {
  signingKey: "0x" + "Ab".repeat(20), // mixed case on purpose: the file name and record use lower case
  chainId: 31337,
  verifyingContract: "0x" + "cd".repeat(20),
};
const KEY = META.signingKey.toLowerCase();
const RECORD_MODULE = new URL("../../worker/protection/record.ts", import.meta.url).href;

const word = (n: number | bigint) => "0x" + BigInt(n).toString(16).padStart(64, "0");
const STREAM = word(0x5eed);
const at = (
  kind: "header" | "proof",
  epoch: bigint,
  shard: number,
  seq: bigint,
  content: number,
  originShard = 0,
): Signed => ({
  kind,
  epoch,
  stream: STREAM,
  shard,
  originShard,
  seq,
  contentHash: word(content),
});

/** Runs a TypeScript module in a fresh Node process (`node --import tsx`: the pid is the process itself). */
function child(dir: string, body: string) {
  const file = join(dir, `child-${Math.random().toString(16).slice(2)}.mts`);
  writeFileSync(file, `import { ProtectionRecord } from ${JSON.stringify(RECORD_MODULE)};\n${body}\n`);
  return spawn(process.execPath, ["--import", "tsx", file], { stdio: ["ignore", "pipe", "pipe"] });
}

function output(p: ReturnType<typeof child>): Promise<{ code: number | null; signal: string | null; out: string }> {
  let out = "";
  let err = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    p.on("error", reject);
    p.on("exit", (code, signal) => (code && code !== 0 ? reject(new Error(err)) : resolve({ code, signal, out })));
  });
}

function expectThrow<E extends Error>(f: () => unknown, type: new (...a: never[]) => E): E {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(type);
    return e as E;
  }
  expect.fail(`expected a ${type.name}`);
}

describe("worker slashing protection (durable record of signed positions)", function () {
  this.timeout(60_000);
  let dir: string;
  const open: ProtectionRecord[] = [];
  const openRecord = (d = dir, meta = META) => {
    const r = ProtectionRecord.open(d, meta);
    open.push(r);
    return r;
  };

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "maru-protection-"))));
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("says new, same, and refuses a different content at a recorded position", function () {
    const r = openRecord();
    const s = at("header", 1n, 0, 0n, 1);
    expect(r.check(s)).to.equal("new");
    r.record([s]);
    expect(r.check(s)).to.equal("same");
    expect(r.check({ ...s, contentHash: s.contentHash.toUpperCase().replace("0X", "0x") })).to.equal("same");
    // A proof is another position than the header with the same coordinates.
    expect(r.check(at("proof", 1n, 0, 0n, 2))).to.equal("new");
    const e = expectThrow(() => r.check(at("header", 1n, 0, 0n, 2)), SigningRefusedError);
    expect(e.message).to.contain("header at epoch 1").and.contain(STREAM).and.contain("shard 0, origin shard 0, seq 0");
    expect(e.message).to.contain(word(1)).and.contain(word(2));
    expect(e.conflicting).to.equal(false);
    expect(r.file).to.equal(join(dir, `${KEY}.jsonl`));
  });

  it("records all or nothing: one conflict in a batch records none of it", function () {
    const r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1)]);
    const size = statSync(r.file).size;
    expectThrow(() => r.record([at("header", 1n, 1, 0n, 7), at("header", 1n, 0, 0n, 2)]), SigningRefusedError);
    // Two contents for one position within one batch are refused as well.
    expectThrow(() => r.record([at("proof", 2n, 0, 0n, 1), at("proof", 2n, 0, 0n, 2)]), SigningRefusedError);
    expect(r.check(at("header", 1n, 1, 0n, 7))).to.equal("new");
    expect(r.check(at("proof", 2n, 0, 0n, 1))).to.equal("new");
    expect(statSync(r.file).size).to.equal(size);
    // A batch of only recorded positions writes nothing.
    r.record([at("header", 1n, 0, 0n, 1)]);
    expect(statSync(r.file).size).to.equal(size);
  });

  it("tracks begun epochs and epochs with positions", function () {
    const r = openRecord();
    expect(r.hasEpoch(5n)).to.equal(false);
    r.beginEpoch(5n);
    r.beginEpoch(5n);
    r.record([at("proof", 2n, 0, 0n, 1)]);
    expect(r.hasEpoch(5n)).to.equal(true);
    expect(r.hasEpoch(2n)).to.equal(true);
    expect(r.epochs()).to.deep.equal([2n, 5n]);
    expect(readFileSync(r.file, "utf8").match(/"t":"e"/g)).to.have.length(1);
  });

  it("persists across close and open: a fresh process reopening sees every position", async function () {
    const r = openRecord();
    const signed: Signed[] = [];
    for (let seq = 0n; seq < 20n; seq++)
      signed.push(
        at("header", 3n, Number(seq % 4n), seq, Number(seq) + 100, Number(seq % 3n)),
        at("proof", 3n, 1, seq, Number(seq)),
      );
    signed.push(at("header", 2n ** 64n - 1n, 2 ** 32 - 1, 2n ** 64n - 1n, 9, 2 ** 32 - 1)); // the largest values survive
    r.record(signed.slice(0, 10));
    r.record(signed.slice(10));
    r.beginEpoch(4n);
    r.close();
    r.close(); // idempotent
    expect(() => r.check(signed[0])).to.throw(MaruError, /closed/);

    const p = child(
      dir,
      `const [dir, meta, signed] = JSON.parse(${JSON.stringify(JSON.stringify([dir, META, signed], (_k, v) => (typeof v === "bigint" ? `${v}n` : v)))},
        (_k, v) => (typeof v === "string" && /^[0-9]+n$/.test(v) ? BigInt(v.slice(0, -1)) : v));
      const r = ProtectionRecord.open(dir, meta);
      const verdicts = signed.map((s) => r.check(s));
      let refused = 0;
      for (const s of signed) try { r.check({ ...s, contentHash: "0x" + "ee".repeat(32) }); } catch { refused++; }
      console.log(JSON.stringify({ verdicts, refused, epochs: r.epochs().map(String) }));
      r.close();`,
    );
    const result = JSON.parse((await output(p)).out);
    expect(result.verdicts).to.have.length(signed.length);
    expect(new Set(result.verdicts)).to.deep.equal(new Set(["same"]));
    expect(result.refused).to.equal(signed.length);
    expect(result.epochs).to.deep.equal(["3", "4", (2n ** 64n - 1n).toString()]);
  });

  it("tolerates a torn last line (a crash mid-write) and truncates it", function () {
    let r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1), at("header", 1n, 0, 1n, 2)]);
    r.close();
    const torn = `{"t":"h","epoch":"1","stream":"${STREAM}","sha`;
    appendFileSync(r.file, torn);
    r = openRecord();
    expect(r.tornTailDropped).to.equal(torn.length);
    expect(readFileSync(r.file, "utf8").endsWith("}\n")).to.equal(true);
    expect(r.check(at("header", 1n, 0, 1n, 2))).to.equal("same");
    r.record([at("header", 1n, 0, 2n, 3)]);
    r.close();
    r = openRecord();
    expect(r.tornTailDropped).to.equal(0);
    expect(r.check(at("header", 1n, 0, 2n, 3))).to.equal("same");
  });

  it("refuses a log with a malformed line that is not the last, naming the line", function () {
    const r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1)]);
    r.close();
    const good = readFileSync(r.file, "utf8");
    const lines = good.split("\n");
    lines.splice(2, 0, '{"t":"h","epoch":"x"}');
    writeFileSync(r.file, lines.join("\n"));
    const e = expectThrow(() => openRecord(), MaruError);
    expect(e.message).to.contain("malformed at line 3").and.contain('"epoch"');
    // The failed open released its lock: once the file is repaired, it opens.
    writeFileSync(r.file, good);
    expect(openRecord().check(at("header", 1n, 0, 0n, 1))).to.equal("same");
  });

  it("refuses a second open while the first holds the lock", function () {
    const first = openRecord();
    const e = expectThrow(() => ProtectionRecord.open(dir, META), ProtectionLockedError);
    expect(e.message).to.contain(`pid ${process.pid}`).and.contain(first.lockFile);
    expect(e.fix).to.contain(`remove ${first.lockFile}`);
    first.close();
    openRecord();
  });

  it("stops recording when its lock is removed underneath it, and releases the lock on process exit", async function () {
    const r = openRecord();
    rmSync(r.lockFile);
    expect(() => r.record([at("header", 1n, 0, 0n, 1)])).to.throw(MaruError, /lock .* is gone/);
    expect(() => r.check(at("header", 1n, 0, 0n, 1))).to.throw(MaruError, /is gone/); // for good
    r.close();

    const p = child(dir, `ProtectionRecord.open(${JSON.stringify(dir)}, ${JSON.stringify(META)}); process.exit(0);`);
    expect((await output(p)).code).to.equal(0);
    expect(() => statSync(r.lockFile)).to.throw(/ENOENT/);
  });

  it("takes over a stale lock whose pid is not alive, with a warning", function () {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const lockFile = join(dir, `${KEY}.lock`);
    writeFileSync(lockFile, JSON.stringify({ pid: dead, hostname: hostname() }));
    const r = openRecord();
    expect(r.staleLockTakenOver).to.contain(`pid ${dead}`).and.contain("not running");
    expect(JSON.parse(readFileSync(lockFile, "utf8")).pid).to.equal(process.pid);
    r.close();
    expect(() => statSync(lockFile)).to.throw(/ENOENT/);
    // A lock of another host cannot be checked from here: it is respected.
    writeFileSync(lockFile, JSON.stringify({ pid: dead, hostname: "elsewhere" }));
    expect(() => ProtectionRecord.open(dir, META))
      .to.throw(ProtectionLockedError)
      .with.property("message")
      .that.contains("elsewhere");
  });

  it("refuses a record of another deployment or key", function () {
    openRecord().close();
    const e = expectThrow(() => openRecord(dir, { ...META, chainId: 1 }), MaruError);
    expect(e.message)
      .to.contain("belongs to another deployment or key")
      .and.contain("chainId: recorded 31337, given 1");
    expect(() => openRecord(dir, { ...META, verifyingContract: "0x" + "11".repeat(20) })).to.throw(
      MaruError,
      /verifyingContract/,
    );
    openRecord(); // the failed opens released the lock
  });

  it("exports and imports: a fresh record gets every position and epoch", function () {
    const r = openRecord();
    r.beginEpoch(1n);
    r.beginEpoch(2n);
    r.record([at("header", 2n, 1, 3n, 1), at("header", 1n, 0, 0n, 2), at("proof", 2n, 1, 3n, 3)]);
    const exported = r.exportInterchange();
    expect(exported.metadata).to.deep.equal({
      interchange_format: "maru-protection",
      interchange_format_version: "2",
      chain_id: "31337",
      verifying_contract: META.verifyingContract,
    });
    expect(exported.data[0].signed_headers.map((h) => h.epoch)).to.deep.equal(["1", "2"]); // sorted
    const file = join(dir, "export.json");
    writeInterchange(file, exported);

    const other = mkdtempSync(join(tmpdir(), "maru-protection-"));
    try {
      const fresh = openRecord(other);
      expect(fresh.importInterchange(readInterchange(file))).to.deep.equal({
        added: 3,
        same: 0,
        conflicts: 0,
        legacy: 0,
      });
      expect(fresh.exportInterchange()).to.deep.equal(exported);
      expect(fresh.importInterchange(exported)).to.deep.equal({ added: 0, same: 3, conflicts: 0, legacy: 0 });
      expect(fresh.check(at("proof", 2n, 1, 3n, 3))).to.equal("same");
      expect(fresh.epochs()).to.deep.equal([1n, 2n]);
      fresh.close();
      expect(openRecord(other).exportInterchange()).to.deep.equal(exported); // durable
    } finally {
      for (const x of open.splice(1)) x.close();
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("marks a position conflicting when an import brings another content for it", function () {
    let r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1)]);
    const i = r.exportInterchange();
    i.data[0].signed_headers[0].content_hash = word(2);
    i.data[0].signed_headers.push({
      epoch: "1",
      stream: STREAM,
      shard: 0,
      origin_shard: 0,
      seq: "1",
      content_hash: word(3),
    });
    expect(r.importInterchange(i)).to.deep.equal({ added: 1, same: 0, conflicts: 1, legacy: 0 });
    for (const content of [1, 2, 4]) {
      const e = expectThrow(() => r.check(at("header", 1n, 0, 0n, content)), SigningRefusedError);
      expect(e.conflicting).to.equal(true);
      expect(e.message).to.contain("conflicting").and.contain(word(1)).and.contain(word(2));
    }
    expectThrow(() => r.record([at("header", 1n, 0, 0n, 1)]), SigningRefusedError);
    expect(r.check(at("header", 1n, 0, 1n, 3))).to.equal("same");
    r.close();
    r = openRecord();
    expectThrow(() => r.check(at("header", 1n, 0, 0n, 1)), SigningRefusedError);
    // The export lists both contents, so the conflict travels with it.
    expect(r.exportInterchange().data[0].signed_headers.map((h) => h.content_hash)).to.deep.equal([
      word(1),
      word(2),
      word(3),
    ]);
  });

  it("refuses an interchange of another chain, contract or key, and names a wrong field", function () {
    const r = openRecord();
    const good = r.exportInterchange();
    const wrongChain: Interchange = { ...good, metadata: { ...good.metadata, chain_id: "1" } };
    const e = expectThrow(() => r.importInterchange(wrongChain), MaruError);
    expect(e.message).to.contain("another deployment").and.contain("chain_id: 1, this record's: 31337");
    const wrongKey: Interchange = { ...good, data: [{ ...good.data[0], signing_key: "0x" + "12".repeat(20) }] };
    expect(() => r.importInterchange(wrongKey)).to.throw(MaruError, /no data for the signing key/);

    const file = join(dir, "bad.json");
    const bad = JSON.parse(JSON.stringify(good));
    bad.data[0].signed_headers.push({ epoch: "01", stream: STREAM, shard: 0, seq: "0", content_hash: "0x12" });
    writeFileSync(file, JSON.stringify(bad));
    const v = expectThrow(() => readInterchange(file), MaruError);
    expect(v.message).to.contain(file).and.contain("data.0.signed_headers.0.content_hash: must be 32 bytes");
    expect(v.message).to.contain("data.0.signed_headers.0.epoch");
    // A version-2 position must name its origin shard: one without is not read as legacy.
    expect(v.message).to.contain("data.0.signed_headers.0.origin_shard");
    const unknownVersion = { ...good, metadata: { ...good.metadata, interchange_format_version: "3" } };
    expect(() => r.importInterchange(unknownVersion as never)).to.throw(MaruError, /interchange_format_version/);
  });

  it("survives SIGKILL right after record(): the reopened record has the position", async function () {
    const s = at("header", 7n, 2, 11n, 42, 3);
    const p = child(
      dir,
      `const r = ProtectionRecord.open(${JSON.stringify(dir)}, ${JSON.stringify(META)});
      r.record([{ kind: "header", epoch: 7n, stream: ${JSON.stringify(STREAM)}, shard: 2, originShard: 3, seq: 11n,
        contentHash: ${JSON.stringify(s.contentHash)} }]);
      console.log("recorded");
      setInterval(() => {}, 1000);`,
    );
    const done = output(p);
    await new Promise<void>((resolve, reject) => {
      p.stdout!.on("data", (d) => String(d).includes("recorded") && resolve());
      done.catch(reject);
    });
    // While it lives it holds the lock.
    const e = expectThrow(() => ProtectionRecord.open(dir, META), ProtectionLockedError);
    expect(e.message).to.contain(`pid ${p.pid}`);
    p.kill("SIGKILL");
    expect((await done).signal).to.equal("SIGKILL");

    const r = openRecord();
    expect(r.staleLockTakenOver).to.contain(`pid ${p.pid}`);
    expect(r.check(s)).to.equal("same");
    expectThrow(() => r.check({ ...s, contentHash: word(43) }), SigningRefusedError);
    expect(r.check({ ...s, originShard: 4, contentHash: word(43) })).to.equal("new");
  });

  it("keeps positions that differ only in the origin shard apart", function () {
    let r = openRecord();
    const a = at("header", 1n, 0, 0n, 1, 0);
    const b = at("header", 1n, 0, 0n, 2, 1);
    const c = at("proof", 1n, 0, 0n, 3, 0xffffffff);
    // One batch may hold all three: they are three positions, not one signed three times.
    r.record([a, b, c]);
    for (const s of [a, b, c]) expect(r.check(s)).to.equal("same");
    expect(r.check(at("header", 1n, 0, 0n, 2, 2))).to.equal("new");
    // Re-signing one of them with another content is refused, and names its origin shard.
    const e = expectThrow(() => r.record([at("header", 1n, 0, 0n, 1, 1)]), SigningRefusedError);
    expect(e.position.originShard).to.equal(1);
    expect(e.message).to.contain("origin shard 1").and.contain(word(2)).and.contain(word(1));
    expectThrow(() => r.check(at("header", 1n, 0, 0n, 2, 0)), SigningRefusedError);
    // Within one call too.
    expectThrow(() => r.record([at("header", 1n, 0, 1n, 5, 1), at("header", 1n, 0, 1n, 6, 1)]), SigningRefusedError);
    // A position without an origin shard, or with one out of range, is invalid, never legacy.
    const { originShard: _o, ...noOrigin } = a;
    expect(() => r.check(noOrigin as Signed)).to.throw(MaruError, /Invalid origin shard undefined/);
    expect(() => r.check({ ...a, originShard: 2 ** 32 })).to.throw(MaruError, /origin shard/);
    expect(() => r.check({ ...a, originShard: -1 })).to.throw(MaruError, /origin shard/);
    expect(r.positions()).to.deep.equal({ current: 3, legacy: 0 });

    // Durable, each with its own origin shard; the export sorts by it after the shard.
    r.close();
    r = openRecord();
    for (const s of [a, b, c]) expect(r.check(s)).to.equal("same");
    const lines = readFileSync(r.file, "utf8").trim().split("\n");
    expect(JSON.parse(lines[0])).to.include({ version: 2 });
    expect(lines.slice(1).map((l) => JSON.parse(l).originShard)).to.deep.equal([0, 1, 0xffffffff]);
    const rows = r.exportInterchange().data[0].signed_headers;
    expect(rows.map((x) => [x.origin_shard, x.content_hash])).to.deep.equal([
      [0, word(1)],
      [1, word(2)],
    ]);
    const other = mkdtempSync(join(tmpdir(), "maru-protection-"));
    try {
      const fresh = openRecord(other);
      expect(fresh.importInterchange(r.exportInterchange())).to.deep.equal({
        added: 3,
        same: 0,
        conflicts: 0,
        legacy: 0,
      });
      expectThrow(() => fresh.check(at("header", 1n, 0, 0n, 1, 1)), SigningRefusedError);
      expect(fresh.check(b)).to.equal("same");
    } finally {
      for (const x of open.splice(1)) x.close();
      rmSync(other, { recursive: true, force: true });
    }
  });

  /** A log exactly as the previous version wrote it (format version 1, positions without origin shard). */
  function writeVersion1Log(): { file: string; lines: string[] } {
    const file = join(dir, `${KEY}.jsonl`);
    const lines = [
      JSON.stringify({
        t: "m",
        format: "maru-protection-log",
        version: 1,
        chainId: META.chainId,
        verifyingContract: META.verifyingContract,
        signingKey: KEY,
      }),
      JSON.stringify({ t: "e", epoch: "4" }),
      JSON.stringify({ t: "h", epoch: "4", stream: STREAM, shard: 0, seq: "0", hash: word(11) }),
      JSON.stringify({ t: "h", epoch: "4", stream: STREAM, shard: 0, seq: "1", hash: word(12) }),
      JSON.stringify({ t: "p", epoch: "4", stream: STREAM, shard: 0, seq: "1", hash: word(13) }),
      // A position an import of the old version had marked conflicting.
      JSON.stringify({ t: "c", kind: "h", epoch: "4", stream: STREAM, shard: 0, seq: "1", hash: word(14) }),
      JSON.stringify({ t: "h", epoch: "5", stream: STREAM, shard: 2, seq: "0", hash: word(15) }),
    ];
    writeFileSync(file, lines.join("\n") + "\n");
    return { file, lines };
  }

  it("loads a record of the previous format: its positions are kept as legacy and never block a new one", function () {
    const { file, lines } = writeVersion1Log();
    let r = openRecord();
    expect(r.upgradedFrom).to.equal(1);
    expect(r.positions()).to.deep.equal({ current: 0, legacy: 4 });
    // The legacy positions still count as epochs the key took part in (the sitting-out rule).
    expect(r.epochs()).to.deep.equal([4n, 5n]);
    // Every new-type position is judged on its own, whatever the legacy positions at the same
    // coordinates hold (even the one an old import marked conflicting): another EIP-712 type.
    for (const originShard of [0, 1]) {
      expect(r.check(at("header", 4n, 0, 0n, 99, originShard))).to.equal("new");
      expect(r.check(at("header", 4n, 0, 1n, 98, originShard))).to.equal("new");
      expect(r.check(at("proof", 4n, 0, 1n, 97, originShard))).to.equal("new");
    }
    r.record([at("header", 4n, 0, 1n, 98, 0), at("proof", 4n, 0, 1n, 97, 0), at("header", 6n, 0, 0n, 1, 2)]);
    expect(r.check(at("header", 4n, 0, 1n, 98, 0))).to.equal("same");
    expectThrow(() => r.check(at("header", 4n, 0, 1n, 12, 0)), SigningRefusedError);

    // The upgrade rewrote the metadata line (upgradedFrom 1) and every old position line with the
    // legacy marker, in order (the epoch line as it was); then come the new lines, each with its
    // origin shard and no marker.
    const text = readFileSync(file, "utf8").split("\n");
    expect(JSON.parse(text[0])).to.deep.equal({ ...JSON.parse(lines[0]), version: 2, upgradedFrom: 1 });
    expect(text.slice(1, lines.length)).to.deep.equal([
      lines[1],
      `{"t":"h","legacy":true,"epoch":"4","stream":"${STREAM}","shard":0,"seq":"0","hash":"${word(11)}"}`,
      `{"t":"h","legacy":true,"epoch":"4","stream":"${STREAM}","shard":0,"seq":"1","hash":"${word(12)}"}`,
      `{"t":"p","legacy":true,"epoch":"4","stream":"${STREAM}","shard":0,"seq":"1","hash":"${word(13)}"}`,
      `{"t":"c","kind":"h","legacy":true,"epoch":"4","stream":"${STREAM}","shard":0,"seq":"1","hash":"${word(14)}"}`,
      `{"t":"h","legacy":true,"epoch":"5","stream":"${STREAM}","shard":2,"seq":"0","hash":"${word(15)}"}`,
    ]);
    expect(text.slice(lines.length, -1)).to.deep.equal([
      `{"t":"h","epoch":"4","stream":"${STREAM}","shard":0,"originShard":0,"seq":"1","hash":"${word(98)}"}`,
      `{"t":"p","epoch":"4","stream":"${STREAM}","shard":0,"originShard":0,"seq":"1","hash":"${word(97)}"}`,
      `{"t":"h","epoch":"6","stream":"${STREAM}","shard":0,"originShard":2,"seq":"0","hash":"${word(1)}"}`,
    ]);

    // Exported as they were (the conflicting one with both contents), beside the new positions.
    const exported = r.exportInterchange();
    const d = exported.data[0];
    expect(d.legacy_signed_headers).to.deep.equal([
      { epoch: "4", stream: STREAM, shard: 0, seq: "0", content_hash: word(11) },
      { epoch: "4", stream: STREAM, shard: 0, seq: "1", content_hash: word(12) },
      { epoch: "4", stream: STREAM, shard: 0, seq: "1", content_hash: word(14) },
      { epoch: "5", stream: STREAM, shard: 2, seq: "0", content_hash: word(15) },
    ]);
    expect(d.legacy_signed_proofs).to.deep.equal([
      { epoch: "4", stream: STREAM, shard: 0, seq: "1", content_hash: word(13) },
    ]);
    expect(d.signed_headers.map((x) => [x.epoch, x.origin_shard, x.content_hash])).to.deep.equal([
      ["4", 0, word(98)],
      ["6", 2, word(1)],
    ]);
    expect(d.epochs_begun).to.deep.equal(["4"]);

    // Reopened: no second upgrade, nothing lost.
    r.close();
    r = openRecord();
    expect(r.upgradedFrom).to.equal(undefined);
    expect(r.positions()).to.deep.equal({ current: 3, legacy: 4 });
    expect(r.exportInterchange()).to.deep.equal(exported);
    expect(r.check(at("header", 4n, 0, 0n, 99, 0))).to.equal("new");

    // Imported elsewhere through a file: the same record, legacy positions included.
    const other = mkdtempSync(join(tmpdir(), "maru-protection-"));
    try {
      const out = join(other, "export.json");
      writeInterchange(out, exported);
      const fresh = openRecord(other);
      expect(fresh.importInterchange(readInterchange(out))).to.deep.equal({
        added: 7,
        same: 0,
        conflicts: 1,
        legacy: 5,
      });
      expect(fresh.exportInterchange()).to.deep.equal(exported);
      expect(fresh.importInterchange(exported)).to.deep.equal({ added: 0, same: 8, conflicts: 0, legacy: 5 });
      expect(fresh.epochs()).to.deep.equal([4n, 5n, 6n]);
      expect(fresh.check(at("header", 5n, 2, 0n, 1, 0))).to.equal("new");
      fresh.close();
      expect(openRecord(other).exportInterchange()).to.deep.equal(exported); // durable
    } finally {
      for (const x of open.splice(1)) x.close();
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("imports an interchange of the previous version as legacy positions", function () {
    const old: LegacyInterchange = {
      metadata: {
        interchange_format: "maru-protection",
        interchange_format_version: "1",
        chain_id: "31337",
        verifying_contract: META.verifyingContract,
      },
      data: [
        {
          signing_key: META.signingKey,
          epochs_begun: ["8"],
          signed_headers: [
            { epoch: "8", stream: STREAM, shard: 1, seq: "0", content_hash: word(1) },
            { epoch: "8", stream: STREAM, shard: 1, seq: "0", content_hash: word(2) },
          ],
          signed_proofs: [{ epoch: "8", stream: STREAM, shard: 1, seq: "0", content_hash: word(3) }],
        },
      ],
    };
    const file = join(dir, "old.json");
    writeFileSync(file, JSON.stringify(old));
    const read = readInterchange(file);
    expect(read.metadata.interchange_format_version).to.equal("2");
    expect(read.data[0].signed_headers).to.deep.equal([]);
    expect(read.data[0].legacy_signed_headers).to.deep.equal(old.data[0].signed_headers);

    const r = openRecord();
    r.record([at("header", 8n, 1, 0n, 7, 0)]);
    expect(r.importInterchange(old)).to.deep.equal({ added: 2, same: 0, conflicts: 1, legacy: 3 });
    expect(r.importInterchange(read)).to.deep.equal({ added: 0, same: 3, conflicts: 0, legacy: 3 });
    // The new position at the same coordinates is untouched; more can be signed there.
    expect(r.check(at("header", 8n, 1, 0n, 7, 0))).to.equal("same");
    expect(r.check(at("header", 8n, 1, 0n, 1, 1))).to.equal("new");
    expect(r.check(at("proof", 8n, 1, 0n, 4, 0))).to.equal("new");
    expect(r.positions()).to.deep.equal({ current: 1, legacy: 2 });
    expect(r.hasEpoch(8n)).to.equal(true);
    const d = r.exportInterchange().data[0];
    expect(d.legacy_signed_headers.map((x) => x.content_hash)).to.deep.equal([word(1), word(2)]);
    expect(d.legacy_signed_proofs.map((x) => x.content_hash)).to.deep.equal([word(3)]);
  });

  it("refuses a version-1 log line that names an origin shard, and a version-2 one out of range", function () {
    const { file, lines } = writeVersion1Log();
    const bad = JSON.stringify({
      t: "h",
      epoch: "4",
      stream: STREAM,
      shard: 0,
      originShard: 1,
      seq: "9",
      hash: word(1),
    });
    writeFileSync(file, [...lines, bad].join("\n") + "\n");
    const e = expectThrow(() => openRecord(), MaruError);
    expect(e.message).to.contain(`malformed at line ${lines.length + 1}`);
    expect(e.details?.join(" ")).to.contain("version 1 log has no origin shards");
    // Not upgraded: the file is as it was.
    expect(readFileSync(file, "utf8").split("\n")[0]).to.equal(lines[0]);

    writeFileSync(file, "");
    const r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1, 5)]);
    r.close();
    appendFileSync(file, bad.replace('"originShard":1', '"originShard":4294967296') + "\n");
    const f = expectThrow(() => openRecord(), MaruError);
    expect(f.details?.join(" ")).to.contain('field "originShard"');
  });

  /** The position lines of a log (every line but the metadata and epoch lines), parsed. */
  const positionLines = (file: string) =>
    readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => JSON.parse(l))
      .filter((o) => o.t !== "e");

  it("refuses a version-2 position line that is neither clearly current nor clearly legacy", function () {
    let r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1, 3), at("proof", 1n, 0, 0n, 2, 3)]);
    r.close();
    const good = readFileSync(r.file, "utf8");
    const lines = good.trimEnd().split("\n");
    const edited = (i: number, f: (o: Record<string, unknown>) => void) => {
      const o = JSON.parse(lines[i]);
      f(o);
      writeFileSync(r.file, [...lines.slice(0, i), JSON.stringify(o), ...lines.slice(i + 1)].join("\n") + "\n");
    };

    // No origin shard and no marker: not taken for legacy (which would let another content be signed).
    edited(2, (o) => delete o.originShard);
    let e = expectThrow(() => openRecord(), MaruError);
    expect(e.message).to.contain(r.file).and.contain("malformed at line 3");
    expect(e.details?.join(" "))
      .to.contain('neither "originShard" nor "legacy":true')
      .and.contain("it is not taken for legacy")
      .and.contain(`line 3: {"t":"p","epoch":"1"`);
    expect(e.fix).to.contain('put its "originShard" back').and.contain("restore the file from a backup");
    expect(readFileSync(r.file, "utf8")).not.to.equal(good); // refused, not repaired

    // Both: which one was signed is unknown.
    edited(1, (o) => (o.legacy = true));
    e = expectThrow(() => openRecord(), MaruError);
    expect(e.message).to.contain(r.file).and.contain("malformed at line 2");
    expect(e.details?.join(" ")).to.contain('both "originShard" and "legacy":true');

    // A marker that is not true; a marker on a version-1 line (that version wrote none).
    for (const value of [false, "true", 1, null]) {
      edited(2, (o) => {
        delete o.originShard;
        o.legacy = value;
      });
      e = expectThrow(() => openRecord(), MaruError);
      expect(e.message).to.contain("malformed at line 3");
      expect(e.details?.join(" ")).to.contain(`"legacy" is ${JSON.stringify(value)}`);
    }
    const { file, lines: v1 } = writeVersion1Log();
    const markedV1 = JSON.stringify({ ...JSON.parse(v1[2]), legacy: true });
    writeFileSync(file, [...v1.slice(0, 2), markedV1, ...v1.slice(3)].join("\n") + "\n");
    e = expectThrow(() => openRecord(), MaruError);
    expect(e.message).to.contain("malformed at line 3");
    expect(e.details?.join(" ")).to.contain('version 1 log has no "legacy" marker');
    expect(readFileSync(file, "utf8").split("\n")[0]).to.equal(v1[0]); // not upgraded

    // Every failed open released the lock; the intact log opens and protects as before.
    writeFileSync(r.file, good);
    r = openRecord();
    expect(r.check(at("proof", 1n, 0, 0n, 2, 3))).to.equal("same");
    expectThrow(() => r.check(at("proof", 1n, 0, 0n, 9, 3)), SigningRefusedError);
  });

  it("writes every current position with its origin shard and every legacy one with the marker", function () {
    const r = openRecord();
    r.beginEpoch(1n);
    r.record([at("header", 1n, 0, 0n, 1, 0), at("proof", 1n, 0, 0n, 2, 7)]);
    const i = r.exportInterchange();
    // An import adds a position, a conflicting content ("c" line) and legacy positions (one conflicting).
    i.data[0].signed_headers.push({ ...i.data[0].signed_headers[0], seq: "1", content_hash: word(3) });
    i.data[0].signed_proofs[0] = { ...i.data[0].signed_proofs[0], content_hash: word(4) };
    const legacyRow = { epoch: "1", stream: STREAM, shard: 0, seq: "0", content_hash: word(5) };
    i.data[0].legacy_signed_headers.push(legacyRow, { ...legacyRow, content_hash: word(6) });
    expect(r.importInterchange(i)).to.deep.equal({ added: 2, same: 1, conflicts: 2, legacy: 2 });
    r.close();

    const parsed = positionLines(r.file);
    expect(parsed.map((o) => [o.t, o.originShard, o.legacy])).to.deep.equal([
      ["h", 0, undefined],
      ["p", 7, undefined],
      ["h", 0, undefined],
      ["c", 7, undefined],
      ["h", undefined, true],
      ["c", undefined, true],
    ]);
    const reopened = openRecord();
    expect(reopened.positions()).to.deep.equal({ current: 3, legacy: 1 });
    expect(expectThrow(() => reopened.check(at("proof", 1n, 0, 0n, 2, 7)), SigningRefusedError).conflicting).to.equal(
      true,
    );
    expect(reopened.check(at("header", 1n, 0, 0n, 5, 1))).to.equal("new"); // legacy never blocks
  });

  it("refuses an interchange entry of the current lists without origin_shard, and a legacy one with it", function () {
    const r = openRecord();
    r.record([at("header", 1n, 0, 0n, 1, 2)]);
    const size = statSync(r.file).size;
    const proof = { epoch: "1", stream: STREAM, shard: 0, seq: "0", content_hash: word(9) };
    const good = r.exportInterchange();

    const noOrigin = JSON.parse(JSON.stringify(good));
    noOrigin.data[0].signed_proofs.push(proof); // a current-list entry without origin_shard
    const e = expectThrow(() => r.importInterchange(noOrigin), MaruError);
    expect(e.message).to.contain("not a valid slashing-protection interchange");
    expect(e.details).to.deep.equal(["data.0.signed_proofs.0.origin_shard: Required"]);

    const originInLegacy = JSON.parse(JSON.stringify(good));
    originInLegacy.data[0].legacy_signed_proofs.push({ ...proof, origin_shard: 2 });
    const f = expectThrow(() => r.importInterchange(originInLegacy), MaruError);
    expect(f.details?.join(" "))
      .to.contain("data.0.legacy_signed_proofs.0.origin_shard")
      .and.contain("a legacy position (signed under the version-1 typed data) has no origin shard");
    // So is a version-1 export whose entries name one (that version had none).
    const v1 = {
      ...good,
      metadata: { ...good.metadata, interchange_format_version: "1" },
      data: [
        { signing_key: KEY, epochs_begun: [], signed_headers: [{ ...proof, origin_shard: 0 }], signed_proofs: [] },
      ],
    };
    expect(() => r.importInterchange(v1 as unknown as LegacyInterchange)).to.throw(
      MaruError,
      /signed_headers\.0\.origin_shard/,
    );

    // Nothing was recorded by the refused imports.
    expect(statSync(r.file).size).to.equal(size);
    expect(r.positions()).to.deep.equal({ current: 1, legacy: 0 });
  });

  it("upgrades a version-1 log atomically: a failed rewrite leaves the old log, which upgrades at the next open", function () {
    const { file, lines } = writeVersion1Log();
    const before = readFileSync(file, "utf8");
    // The temporary file of the rewrite cannot be created (a directory is in its place).
    const tmp = `${file}.tmp-${process.pid}`;
    mkdirSync(tmp);
    expectThrow(() => openRecord(), Error);
    expect(readFileSync(file, "utf8")).to.equal(before);
    rmSync(tmp, { recursive: true });

    let r = openRecord();
    expect(r.upgradedFrom).to.equal(1);
    r.close();
    const upgraded = readFileSync(file, "utf8");
    const parsed = positionLines(file);
    expect(parsed).to.have.length(lines.length - 2);
    for (const o of parsed) {
      expect(o.legacy).to.equal(true);
      expect(o).not.to.have.property("originShard");
    }
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).to.deep.equal([]);

    // Reopens as version 2, without a second upgrade or any change, with every legacy position.
    r = openRecord();
    expect(r.upgradedFrom).to.equal(undefined);
    expect(r.positions()).to.deep.equal({ current: 0, legacy: 4 });
    expect(r.epochs()).to.deep.equal([4n, 5n]);
    r.close();
    expect(readFileSync(file, "utf8")).to.equal(upgraded);
  });
});
