// Batches between two libp2p nodes over real TCP sockets (noise, yamux): they arrive whole, with
// their types; a malformed message is reported and dropped, and the node keeps serving.
import { expect } from "chai";
import { Wallet, keccak256, toBeHex } from "ethers";
import { pipe } from "it-pipe";
import * as lp from "it-length-prefixed";
import { multiaddr } from "@multiformats/multiaddr";
import { buildBatch, openChannel, protocolDomain, signBatch, type SignedBatch } from "../../client/index.js";
import {
  BATCH_PROTOCOL,
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeMessage,
  startTransport,
  type Message,
} from "../../worker/transport/p2p.js";
import { until } from "../utils/wait.js";

describe("worker transport (libp2p: TCP, noise, yamux)", function () {
  this.timeout(60_000);

  it("carries signed batches between nodes and survives a malformed message", async function () {
    const got: SignedBatch[] = [];
    const errors: Error[] = [];
    const a = await startTransport({ listen: ["/ip4/127.0.0.1/tcp/0"], onMessage: () => {} });
    const b = await startTransport({
      listen: ["/ip4/127.0.0.1/tcp/0"],
      onMessage: (m) => m.kind === "batch" && got.push(m.batch),
      onError: (e) => errors.push(e),
    });
    try {
      const key = Wallet.createRandom();
      const ch = openChannel(3n, keccak256("0x01"), 2, key.address);
      const domain = protocolDomain(31337, "0x" + "11".repeat(20));
      const sent: SignedBatch[] = [];
      for (let i = 0; i < 3; ++i) {
        const deltas = Array.from({ length: 5 }, (_, j) => ({
          data: toBeHex(100 * i + j, 32),
          time: BigInt(i),
          diff: -1n,
        }));
        const [h] = buildBatch(ch, deltas, [key.address]);
        const batch = { header: h, signature: await signBatch(key, domain, h), deltas };
        sent.push(batch);
        await a.send(b.addresses()[0], { kind: "batch", batch });
      }
      await until(() => got.length === 3);
      expect(got.map((x) => x.header.seq)).to.deep.equal([0n, 1n, 2n]);
      expect(got[1]).to.deep.equal(decodeBatch(encodeBatch(sent[1])));
      expect(got[2].deltas[4].diff).to.equal(-1n);

      // Garbage on the protocol: reported, dropped, and the node still serves.
      const stream = await a.node.dialProtocol(multiaddr(b.addresses()[0]), BATCH_PROTOCOL);
      await pipe([new Uint8Array([1, 2, 3, 4])], (src) => lp.encode(src), stream.sink);
      await until(() => errors.length === 1);
      expect(errors[0].message).to.match(/malformed message/);
      await a.send(b.addresses()[0], { kind: "batch", batch: sent[0] });
      await until(() => got.length === 4);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("keeps a sender's order on one stream, and carries proofs and end-of-epoch notices", async function () {
    const got: Message[] = [];
    const a = await startTransport({ listen: ["/ip4/127.0.0.1/tcp/0"], onMessage: () => {} });
    const b = await startTransport({ listen: ["/ip4/127.0.0.1/tcp/0"], onMessage: (m) => got.push(m) });
    try {
      const key = Wallet.createRandom();
      const ch = openChannel(1n, keccak256("0x02"), 0, key.address);
      const domain = protocolDomain(31337, "0x" + "11".repeat(20));
      const messages: Message[] = [];
      for (let i = 0; i < 40; ++i) {
        const deltas = [{ data: toBeHex(i, 8), time: BigInt(i), diff: 1n }];
        const [h] = buildBatch(ch, deltas, [key.address]);
        messages.push({ kind: "batch", batch: { header: h, signature: await signBatch(key, domain, h), deltas } });
      }
      const proof = {
        proof: {
          epoch: 1n,
          stream: keccak256("0x02"),
          shard: 0,
          sender: key.address,
          seq: 39n,
          sourceChainId: 31337n,
          blockNumber: 12n,
          blockHash: keccak256("0x03"),
          cumulativeMsh: messages[39].kind === "batch" ? messages[39].batch.header.cumulativeMsh : "",
        },
        signature: "0x" + "ab".repeat(65),
      };
      messages.push({ kind: "proof", proof });
      const done = {
        epoch: 1n,
        sender: key.address,
        lastBlock: 12n,
        channels: [{ stream: keccak256("0x02"), shard: 0, batches: 40n }],
      };
      messages.push({ kind: "done", done });
      // Not awaited one by one: the per-peer stream must still keep the order.
      await Promise.all(messages.map((m) => a.send(b.addresses()[0], m)));
      await until(() => got.length === messages.length);
      expect(got.map((m) => (m.kind === "batch" ? Number(m.batch.header.seq) : m.kind))).to.deep.equal([
        ...Array.from({ length: 40 }, (_, i) => i),
        "proof",
        "done",
      ]);
      expect(got[40]).to.deep.equal({ kind: "proof", proof });
      expect(got[41]).to.deep.equal({ kind: "done", done });
      expect(decodeMessage(encodeMessage(messages[3]))).to.deep.equal(messages[3]);
      expect(() => decodeMessage(new Uint8Array([9, 0]))).to.throw(/unknown message kind 9/);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
