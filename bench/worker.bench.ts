/**
 * What the worker's safety costs, on one core: `npm run bench:worker`. Writes
 * bench/results/worker.json (medians of RUNS runs after a warm-up):
 * - the wire form: decoding a full batch message (256 deltas of 3 KiB, ~800 KiB) with the binary
 *   codec, beside the ABI decoding the transport used before (the old message format, same data);
 * - `peekMessage`, the check every message gets before anything else;
 * - the protection record: `record()` of 16 positions (one write, one fsync) on the data disk;
 * - the exchange layer's sender: deltas per second through deterministic batching, the record and
 *   EIP-712 signing for two receivers (`Outbox`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { AbiCoder, Wallet, ZeroAddress, ZeroHash, getBytes, hexlify, keccak256, randomBytes, toBeHex } from "ethers";
import { buildBatch, openChannel, protocolDomain, signBatch } from "../client/index.js";
import { decodeMessage, encodeMessage, peekMessage } from "../worker/transport/codec.js";
import { ProtectionRecord } from "../worker/protection/record.js";
import { protectedSigner } from "../worker/exchange/signer.js";
import { Outbox } from "../worker/exchange/outbox.js";
import { writeResults } from "./report.js";

const RUNS = 7;

function median(run: () => number): number {
  run();
  const xs = Array.from({ length: RUNS }, run).sort((a, b) => a - b);
  return xs[RUNS >> 1];
}

/** Milliseconds per call of `op`, over `count` calls. */
function msPer(count: number, op: () => void): number {
  return median(() => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) op();
    return Number(process.hrtime.bigint() - t0) / 1e6 / count;
  });
}

async function main() {
  const key = Wallet.createRandom();
  const domain = protocolDomain(31337, "0x" + "11".repeat(20));
  const me = key.address.toLowerCase();
  const stream = keccak256("0x01");
  const deltas = Array.from({ length: 256 }, (_, i) => ({
    data: hexlify(randomBytes(3072)),
    time: BigInt(i),
    diff: 1n,
  }));
  const [header] = buildBatch(openChannel(1n, stream, 0, 0, me), deltas, [me]);
  const signature = await signBatch(key, domain, header);
  const bytes = encodeMessage({ kind: "batch", batch: { header, signature, deltas } });

  // The ABI form the transport decoded before (kind byte + ABI encoding of header, signature, deltas).
  const HEADER =
    "tuple(uint64 epoch, bytes32 stream, uint32 shard, uint32 originShard, address sender, address receiver, uint64 seq, bytes32 prev, bytes32 deltasRoot, uint32 count, bytes32 batchMsh, bytes32 cumulativeMsh, bytes32 inputMsh, uint64 firstTime, uint64 lastTime)";
  const abi = getBytes(
    AbiCoder.defaultAbiCoder().encode(
      [HEADER, "bytes", "tuple(bytes data, uint64 time, int64 diff)[]"],
      [header, signature, deltas.map((d) => [d.data, d.time, d.diff])],
    ),
  );
  const decodeMs = msPer(20, () => decodeMessage(bytes));
  const abiDecodeMs = msPer(3, () =>
    AbiCoder.defaultAbiCoder().decode([HEADER, "bytes", "tuple(bytes data, uint64 time, int64 diff)[]"], abi),
  );
  const peekUs = msPer(100_000, () => peekMessage(bytes)) * 1000;

  const dir = mkdtempSync(join(tmpdir(), "maru-bench-record-"));
  const record = ProtectionRecord.open(dir, {
    signingKey: key.address,
    chainId: 31337,
    verifyingContract: ZeroAddress,
  });
  let seq = 0n;
  const recordMs = msPer(200, () => {
    const entries = Array.from({ length: 16 }, () => ({
      kind: "header" as const,
      epoch: 1n,
      stream,
      shard: 0,
      originShard: 0,
      seq: seq++,
      contentHash: keccak256(toBeHex(seq, 32)),
    }));
    record.record(entries);
  });
  record.close();
  rmSync(dir, { recursive: true, force: true });

  // The sender: 20,000 small deltas over 4 shards to 2 receivers, through the record and signing.
  const members = [me, Wallet.createRandom().address.toLowerCase(), Wallet.createRandom().address.toLowerCase()];
  const outboxRate = await (async () => {
    const rates: number[] = [];
    for (let run = 0; run < 3; ++run) {
      const rdir = mkdtempSync(join(tmpdir(), "maru-bench-outbox-"));
      const rec = ProtectionRecord.open(rdir, {
        signingKey: key.address,
        chainId: 31337,
        verifyingContract: ZeroAddress,
      });
      const out = new Outbox({
        epoch: 1n,
        me,
        signer: protectedSigner(key as unknown as Wallet, domain, rec),
        holders: () => members.slice(1),
        members,
        live: () => true,
        send: () => undefined,
        shardOf: () => 0,
        inputDigest: () => ZeroHash, // the epoch's input commitments are measured with the engine
        local: () => undefined,
        log: pino({ level: "silent" }),
      });
      const t0 = process.hrtime.bigint();
      const total = 20_000;
      for (let i = 0; i < total; i += 500) {
        for (let shard = 0; shard < 4; ++shard)
          out.add(
            stream,
            shard,
            shard,
            Array.from({ length: 125 }, (_, j) => ({ data: toBeHex(i + j, 28), time: BigInt(i + j), diff: 1n })),
          );
        await out.flush();
      }
      await out.finish(31337n, 10n, keccak256("0x02"));
      rates.push(total / (Number(process.hrtime.bigint() - t0) / 1e9));
      rec.close();
      rmSync(rdir, { recursive: true, force: true });
    }
    return Math.round(rates.sort((a, b) => a - b)[1]);
  })();

  const missed = writeResults(
    "worker.json",
    {
      "codec.decodeBatch.800KiB.ms": Number(decodeMs.toFixed(3)),
      "abi.decodeBatch.800KiB.ms": Number(abiDecodeMs.toFixed(1)),
      "codec.peek.us": Number(peekUs.toFixed(3)),
      "protection.record16.ms": Number(recordMs.toFixed(3)),
      "outbox.deltasPerSec": outboxRate,
    },
    {
      "codec.decodeBatch.800KiB.ms": { max: 10 },
      "codec.peek.us": { max: 5 },
      "outbox.deltasPerSec": { min: 20_000 },
    },
  );
  if (missed.length > 0) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
