// The worker's transport over real TCP sockets (libp2p: noise, yamux) and its wire form: messages
// arrive whole and in order from members; a peer that is not a member is refused before it can
// send anything; a message over the size limit disconnects its sender; a member that floods a
// worker with oversize, far-future and next-epoch messages and forged end notices (from another
// process) cannot grow the worker's heap past a bound.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Wallet, ZeroAddress, keccak256, toBeHex, type HDNodeWallet } from "ethers";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { buildBatch, openChannel, protocolDomain, signBatch, type SignedBatch } from "../../client/index.js";
import {
  CodecError,
  HEADER_BYTES,
  decodeDeltas,
  decodeMessage,
  encodeDeltas,
  encodeMessage,
  peekMessage,
  type Message,
} from "../../worker/transport/codec.js";
import { loadPeerKey, startTransport, type Transport, type TransportHooks } from "../../worker/transport/p2p.js";
import { Dataflow, EARLY_LIMITS, RESEND_INTERVAL_MS } from "../../worker/engine/dataflow.js";
import type { Protocol } from "../../client/contracts.js";
import { until } from "../utils/wait.js";

const quiet = () => undefined;

async function signedBatches(key: Wallet | HDNodeWallet, count: number, originShard = 0): Promise<SignedBatch[]> {
  const ch = openChannel(3n, keccak256("0x01"), 2, originShard, key.address.toLowerCase());
  const domain = protocolDomain(31337, "0x" + "11".repeat(20));
  const out: SignedBatch[] = [];
  for (let i = 0; i < count; ++i) {
    const deltas = Array.from({ length: 5 }, (_, j) => ({
      data: toBeHex(100 * i + j, 32),
      time: BigInt(10 * i + j),
      diff: -1n,
    }));
    const [h] = buildBatch(ch, deltas, [key.address.toLowerCase()], keccak256(toBeHex(i + 1, 32)));
    out.push({ header: h, signature: await signBatch(key, domain, h), deltas });
  }
  return out;
}

function hooks(over: Partial<TransportHooks> & Pick<TransportHooks, "memberOf">): TransportHooks {
  return {
    refreshMembers: async () => undefined,
    onMessage: () => undefined,
    addressOf: () => undefined,
    log: quiet,
    ...over,
  };
}

describe("worker wire form (codec)", function () {
  it("round-trips every kind, and peeks kind, epoch and sender without decoding", async function () {
    const key = Wallet.createRandom();
    const [batch] = await signedBatches(key, 1);
    const sender = key.address.toLowerCase();
    const messages: Message[] = [
      { kind: "batch", batch },
      {
        kind: "proof",
        proof: {
          proof: {
            epoch: 3n,
            stream: batch.header.stream,
            shard: 2,
            originShard: 0,
            sender,
            seq: 0n,
            sourceChainId: 31337n,
            blockNumber: 77n,
            blockHash: keccak256("0x02"),
            cumulativeMsh: batch.header.cumulativeMsh,
          },
          signature: batch.signature,
        },
      },
      {
        kind: "done",
        done: {
          epoch: 3n,
          sender,
          receiver: sender,
          lastBlock: 77n,
          stage: 1,
          channels: [{ stream: batch.header.stream, shard: 2, originShard: 0, batches: 4n }],
          signature: batch.signature,
        },
      },
      {
        kind: "request",
        request: {
          epoch: 3n,
          sender,
          channels: [{ stream: batch.header.stream, shard: 2, originShard: 0, fromSeq: 1n }],
        },
      },
    ];
    for (const m of messages) {
      const bytes = encodeMessage(m);
      expect(decodeMessage(bytes)).to.deep.equal(m);
      expect(peekMessage(bytes)).to.deep.equal({ kind: m.kind, epoch: 3n, sender });
    }
  });

  it("carries the origin shard of every channel, and the header's inputMsh, firstTime and lastTime", async function () {
    const key = Wallet.createRandom();
    const sender = key.address.toLowerCase();
    const originShard = 0xfedcba98; // non-zero, and above 2^31: a u32, not an i32
    const [batch] = await signedBatches(key, 1, originShard);
    const h = batch.header;
    expect(h.originShard).to.equal(originShard);
    expect([h.firstTime, h.lastTime]).to.deep.equal([0n, 4n]);
    const stream = h.stream;
    const proof: Message = {
      kind: "proof",
      proof: {
        proof: {
          epoch: 3n,
          stream,
          shard: 2,
          originShard,
          sender,
          seq: 0n,
          sourceChainId: 31337n,
          blockNumber: 77n,
          blockHash: keccak256("0x02"),
          cumulativeMsh: h.cumulativeMsh,
        },
        signature: batch.signature,
      },
    };
    // Two channels that differ only in their origin shard stay two channels.
    const done: Message = {
      kind: "done",
      done: {
        epoch: 3n,
        sender,
        receiver: sender,
        lastBlock: 77n,
        stage: 1,
        channels: [
          { stream, shard: 2, originShard: 1, batches: 4n },
          { stream, shard: 2, originShard, batches: 9n },
        ],
        signature: batch.signature,
      },
    };
    const request: Message = {
      kind: "request",
      request: {
        epoch: 3n,
        sender,
        channels: [
          { stream, shard: 2, originShard: 1, fromSeq: 1n },
          { stream, shard: 2, originShard, fromSeq: 2n },
        ],
      },
    };
    for (const m of [{ kind: "batch", batch } as Message, proof, done, request]) {
      const bytes = encodeMessage(m);
      expect(decodeMessage(bytes)).to.deep.equal(m);
      expect(peekMessage(bytes)).to.deep.equal({ kind: m.kind, epoch: 3n, sender });
    }

    // The layouts, byte for byte.
    const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const hexAt = (b: Buffer, at: number, n: number) => "0x" + b.subarray(at, at + n).toString("hex");
    expect(HEADER_BYTES).to.equal(276);
    const b = view(encodeMessage({ kind: "batch", batch }));
    expect(b.readUInt32BE(1 + 8 + 32)).to.equal(2); // shard
    expect(b.readUInt32BE(1 + 8 + 32 + 4)).to.equal(originShard);
    expect(hexAt(b, 1 + 8 + 32 + 4 + 4, 20)).to.equal(sender);
    const afterCumulative = 1 + HEADER_BYTES - 32 - 8 - 8;
    expect(hexAt(b, afterCumulative - 32, 32)).to.equal(h.cumulativeMsh);
    expect(hexAt(b, afterCumulative, 32)).to.equal(h.inputMsh);
    expect(b.readBigUInt64BE(afterCumulative + 32)).to.equal(h.firstTime);
    expect(b.readBigUInt64BE(afterCumulative + 40)).to.equal(h.lastTime);
    expect(b.readUInt32BE(1 + HEADER_BYTES + 65)).to.equal(batch.deltas.length);
    const p = view(encodeMessage(proof));
    expect(p.length).to.equal(1 + 8 + 32 + 4 + 4 + 20 + 8 + 32 + 8 + 32 + 32 + 65);
    expect(p.readUInt32BE(1 + 8 + 32 + 4)).to.equal(originShard);
    const d = view(encodeMessage(done));
    expect(d[1 + 8 + 20 + 20 + 8]).to.equal(1); // the stage
    const dAt = 1 + 8 + 20 + 20 + 8 + 1 + 65;
    expect(d.length).to.equal(dAt + 4 + 2 * 48);
    expect([d.readUInt32BE(dAt + 4 + 32 + 4), d.readUInt32BE(dAt + 4 + 48 + 32 + 4)]).to.deep.equal([1, originShard]);
    expect(d.readBigUInt64BE(dAt + 4 + 48 + 40)).to.equal(9n);
    const q = view(encodeMessage(request));
    const qAt = 1 + 8 + 20;
    expect(q.length).to.equal(qAt + 4 + 2 * 48);
    expect(q.readUInt32BE(qAt + 4 + 48 + 36)).to.equal(originShard);
    expect(q.readBigUInt64BE(qAt + 4 + 48 + 40)).to.equal(2n);

    // A missing or out-of-range origin shard is refused, never sent as 0.
    const { originShard: _o, ...noOrigin } = h;
    expect(() => encodeMessage({ kind: "batch", batch: { ...batch, header: noOrigin as typeof h } })).to.throw(
      CodecError,
      /not a u32/,
    );
    expect(() =>
      encodeMessage({ kind: "batch", batch: { ...batch, header: { ...h, originShard: 2 ** 32 } } }),
    ).to.throw(CodecError);
    // A channel count that 44-byte entries (the previous layout) would fit, but 48-byte ones do not.
    const short = Uint8Array.from(q.subarray(0, q.length - 8));
    expect(() => decodeMessage(short)).to.throw(CodecError, /does not fit/);
    const shortDone = Uint8Array.from(d.subarray(0, d.length - 8));
    expect(() => decodeMessage(shortDone)).to.throw(CodecError, /does not fit/);
    // A notice ends the first or the second exchange; any other stage is refused both ways.
    const second = decodeMessage(encodeMessage({ ...done, done: { ...done.done, stage: 2 } } as Message));
    expect(second.kind === "done" && second.done.stage).to.equal(2);
    const third = Uint8Array.from(d);
    third[1 + 8 + 20 + 20 + 8] = 3;
    expect(() => decodeMessage(third)).to.throw(CodecError, /stage 3/);
    expect(() => encodeMessage({ ...done, done: { ...done.done, stage: 0 } } as Message)).to.throw(
      CodecError,
      /stage 0/,
    );
  });

  it("encodes a batch's deltas once (packed) into the same bytes, and refuses deltas the wire cannot carry", async function () {
    const [batch] = await signedBatches(Wallet.createRandom(), 1);
    // Data as hex (with and without 0x) or bytes, times and diffs as bigint or number: one layout.
    const deltas = [
      { data: "0x00ff10", time: 0n, diff: -1n },
      { data: "abcd", time: 2 ** 40, diff: 3 },
      { data: new Uint8Array([1, 2, 3, 4]), time: (1n << 64n) - 1n, diff: -(1n << 63n) },
      { data: "0x", time: 7n, diff: (1n << 63n) - 1n },
    ];
    // The layout, byte for byte: n u32 | len u32 | data | time u64 | diff i64, big-endian.
    expect(Buffer.from(encodeDeltas(deltas.slice(0, 1))).toString("hex")).to.equal(
      "00000001" + "00000003" + "00ff10" + "0000000000000000" + "ffffffffffffffff",
    );
    const packed = encodeDeltas(deltas);
    expect(decodeDeltas(packed)).to.deep.equal([
      { data: "0x00ff10", time: 0n, diff: -1n },
      { data: "0xabcd", time: 2n ** 40n, diff: 3n },
      { data: "0x01020304", time: (1n << 64n) - 1n, diff: -(1n << 63n) },
      { data: "0x", time: 7n, diff: (1n << 63n) - 1n },
    ]);
    const plain = encodeMessage({ kind: "batch", batch });
    const withPacked = encodeMessage({ kind: "batch", batch, packed: encodeDeltas(batch.deltas) });
    expect(Buffer.from(withPacked).equals(Buffer.from(plain))).to.equal(true);
    expect(decodeMessage(withPacked)).to.deep.equal({ kind: "batch", batch });
    for (const bad of [
      { data: "0x0g", time: 1n, diff: 1n },
      { data: "0x123", time: 1n, diff: 1n },
      { data: "0x01", time: -1n, diff: 1n },
      { data: "0x01", time: 1n << 64n, diff: 1n },
      { data: "0x01", time: 1n, diff: 1n << 63n },
    ])
      expect(
        () => encodeDeltas([bad]),
        JSON.stringify(bad, (_, v) => String(v)),
      ).to.throw(CodecError);
    expect(() => decodeDeltas(Uint8Array.from([...packed, 0]))).to.throw(CodecError, /trailing/);
  });

  it("refuses truncated, overlong and unknown messages with a CodecError, never another error", async function () {
    const [batch] = await signedBatches(Wallet.createRandom(), 1);
    const bytes = encodeMessage({ kind: "batch", batch });
    for (let cut = 0; cut < bytes.length; cut += 7) {
      expect(() => decodeMessage(bytes.subarray(0, cut))).to.throw(CodecError);
    }
    expect(() => decodeMessage(new Uint8Array([...bytes, 0]))).to.throw(CodecError, /trailing/);
    expect(() => decodeMessage(new Uint8Array([9, 0, 0]))).to.throw(CodecError, /unknown message kind/);
    // A delta count the message cannot hold is refused before anything is allocated for it.
    const lying = Uint8Array.from(bytes);
    new DataView(lying.buffer).setUint32(1 + HEADER_BYTES + 65, 0xffffffff);
    expect(() => decodeMessage(lying)).to.throw(CodecError, /does not fit/);
  });
});

describe("worker transport (libp2p: TCP, noise, yamux)", function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), "maru-transport-"));
  const started: Transport[] = [];
  after(async () => {
    for (const t of started) await t.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (name: string, h: TransportHooks) => {
    const t = await startTransport({
      listen: ["/ip4/127.0.0.1/tcp/0"],
      privateKey: await loadPeerKey(join(dir, `${name}.key`)),
      hooks: h,
    });
    started.push(t);
    return t;
  };

  it("keeps its peer id across restarts (the key file)", async function () {
    const a = await loadPeerKey(join(dir, "same.key"));
    const b = await loadPeerKey(join(dir, "same.key"));
    expect(peerIdFromPrivateKey(a as never).toString()).to.equal(peerIdFromPrivateKey(b as never).toString());
  });

  it("carries members' messages in order, bound to the member of the connection; refuses anyone else", async function () {
    const members = new Map<string, string>(); // peer id → member
    const addresses = new Map<string, string>(); // member → address
    const got: Array<{ m: Message; from: string }> = [];
    const common = {
      memberOf: (peer: string) => members.get(peer),
      addressOf: (member: string) => addresses.get(member),
    };
    const a = await start("a", hooks(common));
    const b = await start(
      "b",
      hooks({ ...common, onMessage: (bytes, from) => void got.push({ m: decodeMessage(bytes), from }) }),
    );
    const c = await start("c", hooks(common));
    members.set(a.node.peerId.toString(), "0xaaaa");
    members.set(b.node.peerId.toString(), "0xbbbb");
    addresses.set("0xbbbb", b.addresses()[0]);

    const sent = await signedBatches(Wallet.createRandom(), 3);
    for (const batch of sent) a.send("0xbbbb", { kind: "batch", batch });
    await until(() => got.length === 3);
    expect(got.map((x) => x.from)).to.deep.equal(["0xaaaa", "0xaaaa", "0xaaaa"]);
    expect(got.map((x) => (x.m.kind === "batch" ? x.m.batch.header.seq : -1n))).to.deep.equal([0n, 1n, 2n]);

    // c is no member: the gater refuses it after the noise handshake; nothing reaches b.
    c.send("0xbbbb", { kind: "batch", batch: sent[0] });
    await until(() => b.stats.refusedConnections > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).to.have.length(3);
  });

  it("lets timers run while it works through a backlog of messages", async function () {
    // A worker verifies each batch as it is read; buffered messages come back to back in
    // microtasks, so without a turn for timers a backlog held them (and operator budgets, pings)
    // for seconds.
    const members = new Map<string, string>();
    const addresses = new Map<string, string>();
    let handled = 0;
    const common = { memberOf: (peer: string) => members.get(peer), addressOf: (m: string) => addresses.get(m) };
    const a = await start("backlog-a", hooks(common));
    const b = await start(
      "backlog-b",
      hooks({
        ...common,
        onMessage: () => {
          const until = performance.now() + 10;
          while (performance.now() < until); // verifying a batch
          handled += 1;
          return undefined;
        },
      }),
    );
    members.set(a.node.peerId.toString(), "0xaaaa");
    addresses.set("0xbbbb", b.addresses()[0]);
    const [batch] = await signedBatches(Wallet.createRandom(), 1);
    let late = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      late = Math.max(late, performance.now() - last - 10);
      last = performance.now();
    }, 10);
    try {
      for (let i = 0; i < 300; ++i) a.send("0xbbbb", { kind: "batch", batch });
      await until(() => handled === 300, 60_000);
    } finally {
      clearInterval(tick);
    }
    // 300 messages of 10 ms each: 3 s of work, in turns of about 50 ms.
    expect(late, `a timer waited ${late.toFixed(0)} ms`).to.be.below(250);
  });

  it("disconnects and refuses a member that sends a message over the limit", async function () {
    const members = new Map<string, string>();
    const victim = await start("victim1", hooks({ memberOf: (p) => members.get(p) }));
    const flood = await runFlooder(victim, "0xdddd", members, ["oversize"], 1);
    expect(flood.sent).to.be.greaterThan(0);
    await until(() => victim.stats.oversize === 1 && victim.stats.disconnected === 1);
  });

  it("bounds the heap of a worker flooded by a member with far-future and next-epoch messages and forged notices", async function () {
    setFlagsFromString("--expose_gc");
    const gc = runInNewContext("gc") as () => void;
    const members = new Map<string, string>();
    const sender = Wallet.createRandom().address.toLowerCase();
    const p = {
      book: { startBlock: 0, contracts: { fraudProofs: ZeroAddress } },
      fraud: {},
      epochs: { interface: undefined },
    } as unknown as Protocol;
    const dataflow = new Dataflow({ p, me: "0x" + "ee".repeat(20), chainId: 31337 } as never);
    dataflow.follow(5n);
    const victim = await start(
      "victim2",
      hooks({ memberOf: (peer) => members.get(peer), onMessage: (bytes, m) => dataflow.onWire(bytes, m) }),
    );
    gc();
    const before = process.memoryUsage().heapUsed;
    // First the next epoch's messages, more than the per-peer budget held for an epoch not started;
    // then far-future messages and forged end notices, from a second member.
    const next = await runFlooder(victim, sender, members, ["next"], 45);
    const other = Wallet.createRandom().address.toLowerCase();
    const rest = await runFlooder(victim, other, members, ["future", "forged-done"], 40);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(next.bytes, "the next-epoch flood passed the budget").to.be.greaterThan(EARLY_LIMITS.bytes);
    // Over the next-epoch budget is dropped, not held against the peer (an honest one may just be
    // ahead); far-future messages are abuse, and their sender is cut off.
    const seen = JSON.stringify({ next, rest, stats: victim.stats });
    expect(victim.stats.refusedMessages, seen).to.be.greaterThan(20);
    expect(victim.stats.disconnected, seen).to.equal(1);
    // What a worker keeps for the next epoch is capped per peer; everything else is dropped unread.
    expect(grown, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`).to.be.lessThan(
      EARLY_LIMITS.bytes + 16 * 1024 * 1024,
    );
  });

  /** Runs scripts/devnet/flood.ts in its own process, as a member with its own peer id. */
  async function runFlooder(
    victim: Transport,
    sender: string,
    members: Map<string, string>,
    kinds: string[],
    count: number,
  ) {
    const keyFile = join(dir, `flooder-${kinds.join("-")}.key`);
    members.set(peerIdFromPrivateKey((await loadPeerKey(keyFile)) as never).toString(), sender);
    const json = join(dir, `flood-${kinds.join("-")}.json`);
    const proc = spawn(
      join(process.cwd(), "node_modules/.bin/tsx"),
      [
        "scripts/devnet/flood.ts",
        ...["--target", victim.addresses()[0], "--epoch", "5", "--sender", sender, "--key", keyFile],
        ...["--kinds", kinds.join(","), "--count", String(count), "--json", json],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => proc.once("exit", resolve));
    expect(code, stderr).to.equal(0);
    return JSON.parse(readFileSync(json, "utf8")) as { sent: number; bytes: number; refusedAtConnect: number };
  }
});

describe("resend requests", function () {
  this.timeout(20_000);

  it("answers a request that comes too soon after the last one later, the newest only, and never calls it abuse", async function () {
    const p = {
      book: { startBlock: 0, contracts: { fraudProofs: ZeroAddress } },
      fraud: {},
      epochs: { interface: undefined },
    } as unknown as Protocol;
    const logs: string[] = [];
    const log = { info: () => undefined, warn: (_f: unknown, m: string) => logs.push(m) };
    const dataflow = new Dataflow({ p, me: "0x" + "ee".repeat(20), chainId: 31337, log } as never);
    const asker = "0x" + "aa".repeat(20);
    const served: Array<{ fromSeq: bigint; at: number }> = [];
    const outbox = {
      resend: async (req: { channels: Array<{ fromSeq: bigint }> }) => {
        served.push({ fromSeq: req.channels[0].fromSeq, at: Date.now() });
        return 1;
      },
    };
    (dataflow as unknown as { retained: Map<bigint, unknown> }).retained.set(4n, outbox);
    const request = (fromSeq: bigint) =>
      encodeMessage({
        kind: "request",
        request: {
          epoch: 4n,
          sender: asker,
          channels: [{ stream: keccak256("0x01"), shard: 0, originShard: 1, fromSeq }],
        },
      });
    try {
      const start = Date.now();
      // Four requests in a burst, as an honest peer's pile up behind a stalled stream.
      for (const seq of [1n, 2n, 3n, 4n]) expect(dataflow.onWire(request(seq), asker)).to.equal(undefined);
      await until(() => served.length === 2, 10_000);
      expect(served[0].fromSeq).to.equal(1n);
      // The one kept for later is the newest, answered once the interval is over.
      expect(served[1].fromSeq).to.equal(4n);
      expect(served[1].at - start).to.be.at.least(RESEND_INTERVAL_MS - 50);
      await new Promise((r) => setTimeout(r, RESEND_INTERVAL_MS + 200));
      expect(served).to.have.length(2);
      expect(logs).to.deep.equal([]);
      // Garbage is abuse at once, even while a request would be deferred.
      const garbage = encodeMessage({ kind: "request", request: { epoch: 4n, sender: asker, channels: [] } });
      garbage[garbage.length - 1] ^= 0xff;
      expect(dataflow.onWire(request(5n), asker)).to.equal(undefined);
      expect(dataflow.onWire(Uint8Array.from([...garbage, 1, 2, 3]), asker)).to.deep.include({ abusive: true });
    } finally {
      await dataflow.stop();
    }
  });
});
