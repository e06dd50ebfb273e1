// Messages between workers over libp2p (TCP, noise, yamux) on /maru/batch/1.0.0: batches, accumulated
// proofs and end-of-epoch notices, each ABI-encoded behind a one-byte kind and length-prefixed. A
// sender keeps one stream per peer, so a peer receives a sender's messages in the order they were
// sent. A malformed message is reported to the caller and dropped; it never throws in the node.
// docs/worker.md.
import { createLibp2p, type Libp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { pipe } from "it-pipe";
import { pushable, type Pushable } from "it-pushable";
import { AbiCoder, getBytes, hexlify } from "ethers";
import type { SignedBatch } from "../../client/batches/types.js";
import type { SignedAccumulatedProof } from "../../client/batches/verifyAccumulatedProof.js";

/** The protocol id messages travel on. */
export const BATCH_PROTOCOL = "/maru/batch/1.0.0";
/** The largest message accepted (a MAX_BATCH batch of large deltas fits comfortably). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * A sender's end of an epoch, for one receiver: how many batches it sent on each of its channels to
 * that receiver (so the receiver knows when it has everything). Unsigned: it only decides how long
 * a receiver waits, never what it accepts.
 */
export type EpochDone = {
  epoch: bigint;
  sender: string;
  /** The last source block the sender read for the epoch. */
  lastBlock: bigint;
  channels: Array<{ stream: string; shard: number; batches: bigint }>;
};

/** What travels between workers. */
export type Message =
  | { kind: "batch"; batch: SignedBatch }
  | { kind: "proof"; proof: SignedAccumulatedProof }
  | { kind: "done"; done: EpochDone };

const coder = AbiCoder.defaultAbiCoder();
const HEADER =
  "tuple(uint64 epoch, bytes32 stream, uint32 shard, address sender, address receiver, uint64 seq, bytes32 prev, bytes32 deltasRoot, uint32 count, bytes32 batchMsh, bytes32 cumulativeMsh)";
const BATCH_ABI = [HEADER, "bytes", "tuple(bytes data, uint64 time, int64 diff)[]"];
const PROOF_ABI = [
  "tuple(uint64 epoch, bytes32 stream, uint32 shard, address sender, uint64 seq, uint256 sourceChainId, uint64 blockNumber, bytes32 blockHash, bytes32 cumulativeMsh)",
  "bytes",
];
const DONE_ABI = ["uint64", "address", "uint64", "tuple(bytes32 stream, uint32 shard, uint64 batches)[]"];
const KIND = { batch: 1, proof: 2, done: 3 } as const;

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

/** The wire form of any message: its kind byte, then its ABI encoding. */
export function encodeMessage(m: Message): Uint8Array {
  let body: Uint8Array;
  if (m.kind === "batch") body = encodeBatch(m.batch);
  else if (m.kind === "proof") body = getBytes(coder.encode(PROOF_ABI, [m.proof.proof, m.proof.signature]));
  else
    body = getBytes(
      coder.encode(DONE_ABI, [
        m.done.epoch,
        m.done.sender,
        m.done.lastBlock,
        m.done.channels.map((c) => [c.stream, c.shard, c.batches]),
      ]),
    );
  const out = new Uint8Array(body.length + 1);
  out[0] = KIND[m.kind];
  out.set(body, 1);
  return out;
}

/** Decodes {@link encodeMessage}; throws on malformed input. */
export function decodeMessage(bytes: Uint8Array): Message {
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case KIND.batch:
      return { kind: "batch", batch: decodeBatch(body) };
    case KIND.proof: {
      const [p, signature] = coder.decode(PROOF_ABI, body);
      return {
        kind: "proof",
        proof: {
          proof: {
            epoch: p.epoch,
            stream: p.stream,
            shard: Number(p.shard),
            sender: p.sender,
            seq: p.seq,
            sourceChainId: p.sourceChainId,
            blockNumber: p.blockNumber,
            blockHash: p.blockHash,
            cumulativeMsh: p.cumulativeMsh,
          },
          signature,
        },
      };
    }
    case KIND.done: {
      const [epoch, sender, lastBlock, channels] = coder.decode(DONE_ABI, body);
      return {
        kind: "done",
        done: {
          epoch,
          sender,
          lastBlock,
          channels: (channels as Array<[string, bigint, bigint]>).map(([stream, shard, batches]) => ({
            stream,
            shard: Number(shard),
            batches,
          })),
        },
      };
    }
    default:
      throw new Error(`unknown message kind ${bytes[0]}`);
  }
}

/** A worker's libp2p node. */
export type Transport = {
  node: Libp2p;
  /** The addresses to register on-chain (with the peer id). */
  addresses(): string[];
  /** Queues a message to a peer's multiaddr (from its on-chain network address); per peer in order. */
  send(to: string, message: Message): Promise<void>;
  stop(): Promise<void>;
};

/**
 * Starts a libp2p node (TCP, noise, yamux) that receives messages on {@link BATCH_PROTOCOL}.
 * Outgoing messages to a peer share one stream, opened on first use and reopened after a failure.
 *
 * @example
 * ```ts
 * const t = await startTransport({ listen: ["/ip4/0.0.0.0/tcp/9000"], onMessage: (m, from) => inbox.push(m) });
 * await register(maru, signingKey.address, t.addresses()[0]);
 * await t.send(peerAddress, { kind: "batch", batch });
 * ```
 */
export async function startTransport(options: {
  listen: string[];
  onMessage: (message: Message, fromPeer: string) => void;
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
              let decoded: Message;
              try {
                decoded = decodeMessage(msg.subarray());
              } catch (e) {
                options.onError?.(
                  new Error(`a malformed message from ${from}: ${(e as Error).message.split("\n")[0]}`),
                  from,
                );
                continue;
              }
              options.onMessage(decoded, from);
            }
          },
        );
      } catch (e) {
        options.onError?.(e as Error, from);
      }
    },
    { maxInboundStreams: 256 },
  );
  // One outbound stream per peer: a queue the stream drains, so messages keep their order.
  const outbound = new Map<string, { queue: Pushable<Uint8Array>; opened: Promise<void> }>();
  const open = (to: string) => {
    const queue = pushable<Uint8Array>();
    const opened = node.dialProtocol(multiaddr(to), BATCH_PROTOCOL).then((stream) => {
      pipe(queue, (src) => lp.encode(src), stream.sink).catch((e: Error) => {
        outbound.delete(to);
        options.onError?.(new Error(`the stream to ${to} failed: ${e.message}`), to);
      });
    });
    const entry = { queue, opened };
    outbound.set(to, entry);
    opened.catch(() => outbound.delete(to));
    return entry;
  };
  return {
    node,
    addresses: () => node.getMultiaddrs().map((a) => a.toString()),
    async send(to, message) {
      const entry = outbound.get(to) ?? open(to);
      await entry.opened;
      entry.queue.push(encodeMessage(message));
    },
    async stop() {
      for (const { queue } of outbound.values()) queue.end();
      outbound.clear();
      await node.stop();
    },
  };
}
