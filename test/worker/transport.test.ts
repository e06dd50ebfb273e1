// Batches between two libp2p nodes over real TCP sockets (noise, yamux): they arrive whole, with
// their types; a malformed message is reported and dropped, and the node keeps serving.
import { expect } from "chai";
import { Wallet, keccak256, toBeHex } from "ethers";
import { pipe } from "it-pipe";
import * as lp from "it-length-prefixed";
import { multiaddr } from "@multiformats/multiaddr";
import { buildBatch, openChannel, protocolDomain, signBatch, type SignedBatch } from "../../client/index.js";
import { BATCH_PROTOCOL, decodeBatch, encodeBatch, startTransport } from "../../worker/transport/p2p.js";
import { until } from "../utils/wait.js";

describe("worker transport (libp2p: TCP, noise, yamux)", function () {
  this.timeout(60_000);

  it("carries signed batches between nodes and survives a malformed message", async function () {
    const got: SignedBatch[] = [];
    const errors: Error[] = [];
    const a = await startTransport({ listen: ["/ip4/127.0.0.1/tcp/0"], onBatch: () => {} });
    const b = await startTransport({
      listen: ["/ip4/127.0.0.1/tcp/0"],
      onBatch: (batch) => got.push(batch),
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
        await a.send(b.addresses()[0], batch);
      }
      await until(() => got.length === 3);
      expect(got.map((x) => x.header.seq)).to.deep.equal([0n, 1n, 2n]);
      expect(got[1]).to.deep.equal(decodeBatch(encodeBatch(sent[1])));
      expect(got[2].deltas[4].diff).to.equal(-1n);

      // Garbage on the protocol: reported, dropped, and the node still serves.
      const stream = await a.node.dialProtocol(multiaddr(b.addresses()[0]), BATCH_PROTOCOL);
      await pipe([new Uint8Array([1, 2, 3, 4])], (src) => lp.encode(src), stream.sink);
      await until(() => errors.length === 1);
      expect(errors[0].message).to.match(/malformed batch/);
      await a.send(b.addresses()[0], sent[0]);
      await until(() => got.length === 4);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
