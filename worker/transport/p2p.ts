// Batches between workers over libp2p (TCP, noise, yamux): one stream per batch on
// /maru/batch/1.0.0, the batch ABI-encoded and length-prefixed. A malformed message is reported to
// the caller and dropped; it never throws in the node. docs/worker.md.
import { createLibp2p, type Libp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { pipe } from "it-pipe";
import { AbiCoder, getBytes, hexlify } from "ethers";
import type { SignedBatch } from "../../client/batches/types.js";

/** The protocol id batches travel on. */
export const BATCH_PROTOCOL = "/maru/batch/1.0.0";
/** The largest message accepted (a MAX_BATCH batch of large deltas fits comfortably). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const coder = AbiCoder.defaultAbiCoder();
const BATCH_ABI = [
  "tuple(uint64 epoch, bytes32 stream, uint32 shard, address sender, address receiver, uint64 seq, bytes32 prev, bytes32 deltasRoot, uint32 count, bytes32 batchMsh, bytes32 cumulativeMsh)",
  "bytes",
  "tuple(bytes data, uint64 time, int64 diff)[]",
];

/** The wire form of a batch (ABI encoding: the same field types as on-chain). */
export function encodeBatch(b: SignedBatch): Uint8Array {
  return getBytes(
    coder.encode(BATCH_ABI, [
      b.header,
      b.signature,
      b.deltas.map((d) => [typeof d.data === "string" ? d.data : hexlify(d.data as Uint8Array), d.time, d.diff]),
    ]),
  );
}

/** Decodes {@link encodeBatch}; throws on malformed input. */
export function decodeBatch(bytes: Uint8Array): SignedBatch {
  const [h, signature, deltas] = coder.decode(BATCH_ABI, bytes);
  return {
    header: {
      epoch: h.epoch,
      stream: h.stream,
      shard: Number(h.shard),
      sender: h.sender,
      receiver: h.receiver,
      seq: h.seq,
      prev: h.prev,
      deltasRoot: h.deltasRoot,
      count: Number(h.count),
      batchMsh: h.batchMsh,
      cumulativeMsh: h.cumulativeMsh,
    },
    signature,
    deltas: (deltas as Array<[string, bigint, bigint]>).map(([data, time, diff]) => ({ data, time, diff })),
  };
}

/** A worker's libp2p node for batches. */
export type Transport = {
  node: Libp2p;
  /** The addresses to register on-chain (with the peer id). */
  addresses(): string[];
  /** Sends a batch to a peer's multiaddr (from its on-chain network address). */
  send(to: string, batch: SignedBatch): Promise<void>;
  stop(): Promise<void>;
};

/**
 * Starts a libp2p node (TCP, noise, yamux) that receives batches on {@link BATCH_PROTOCOL}.
 *
 * @example
 * ```ts
 * const t = await startTransport({ listen: ["/ip4/0.0.0.0/tcp/9000"], onBatch: (b, from) => inbox.push(b) });
 * await register(maru, signingKey.address, t.addresses()[0]);
 * await t.send(peerAddress, batch);
 * ```
 */
export async function startTransport(options: {
  listen: string[];
  onBatch: (batch: SignedBatch, fromPeer: string) => void;
  onError?: (error: Error, fromPeer: string) => void;
}): Promise<Transport> {
  const node = await createLibp2p({
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
  await node.handle(
    BATCH_PROTOCOL,
    async ({ stream, connection }) => {
      const from = connection.remotePeer.toString();
      try {
        await pipe(
          stream.source,
          (src) => lp.decode(src, { maxDataLength: MAX_MESSAGE_BYTES }),
          async (src) => {
            for await (const msg of src) {
              try {
                options.onBatch(decodeBatch(msg.subarray()), from);
              } catch (e) {
                options.onError?.(
                  new Error(`a malformed batch from ${from}: ${(e as Error).message.split("\n")[0]}`),
                  from,
                );
              }
            }
          },
        );
      } catch (e) {
        options.onError?.(e as Error, from);
      }
    },
    { maxInboundStreams: 256 },
  );
  return {
    node,
    addresses: () => node.getMultiaddrs().map((a) => a.toString()),
    async send(to, batch) {
      const stream = await node.dialProtocol(multiaddr(to), BATCH_PROTOCOL);
      await pipe([encodeBatch(batch)], (src) => lp.encode(src), stream.sink);
    },
    async stop() {
      await node.stop();
    },
  };
}
