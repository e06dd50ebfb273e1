// Messages between workers over libp2p (TCP, noise, yamux) on /maru/batch/4.0.0, length-prefixed,
// in the wire form of ./codec.ts. docs/protocol.md §11, docs/worker.md#transport:
// - Only members may connect: the gater runs after the noise handshake (the remote peer id is
//   authenticated) and refuses any peer id that no member of the previous, current or next epoch
//   registered on-chain. Refusals are counted and logged, at most once a minute per peer.
// - A message is bound to its connection: the sender it claims must be the member behind the
//   peer id (checked by the dataflow before it decodes anything).
// - A message longer than MAX_MESSAGE_BYTES is refused on its length prefix, before its body is
//   read; a peer that sends one, or repeatedly sends what the dataflow refuses, is disconnected and
//   refused for BAN_MS.
// A sender keeps one stream per peer, so a peer receives a sender's messages in the order sent.
import { createLibp2p, type Libp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";

/** A libp2p private key as @libp2p/crypto makes it. */
export type PeerKey = ReturnType<typeof privateKeyFromProtobuf>;
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { pipe } from "it-pipe";
import { pushable, type Pushable } from "it-pushable";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { connect } from "node:net";
import { encodeMessage, MAX_MESSAGE_BYTES, type Message } from "./codec.js";

/** The protocol id messages travel on (3.0.0: channels per origin shard and the replica fields of §12). */
export const BATCH_PROTOCOL = "/maru/batch/4.0.0";
/** Refused messages a peer may send in ABUSE_WINDOW_MS before it is disconnected. */
export const ABUSE_LIMIT = 16;
const ABUSE_WINDOW_MS = 60_000;
/** Bytes queued for one member at most before its stream is dropped (it does not read). */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** How long a stream's buffered messages are handled back to back before timers and I/O get a turn. */
const YIELD_AFTER_MS = 50;
/** The least time a connection's ping gets before libp2p gives the connection up. */
export const PING_TIMEOUT_MS = 30_000;
/** How long a disconnected abusive peer is refused. */
export const BAN_MS = 5 * 60_000;

/**
 * The worker's libp2p identity, kept in a file (0600) so that a restarted worker keeps its peer id
 * and the address it registered on-chain stays valid.
 * @example
 * ```ts
 * const key = await loadPeerKey(".maru/worker/peer.key");
 * ```
 */
export async function loadPeerKey(file: string): Promise<PeerKey> {
  if (existsSync(file)) return privateKeyFromProtobuf(readFileSync(file));
  const key = await generateKeyPair("Ed25519");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, privateKeyToProtobuf(key), { mode: 0o600 });
  return key;
}

/** What the transport asks of the worker. */
export type TransportHooks = {
  /** The member (worker address, lower case) behind a peer id, if it may talk to this worker. */
  memberOf(peerId: string): string | undefined;
  /** Asked when an unknown peer connects: re-read the registered addresses (rate-limited by the caller). */
  refreshMembers(): Promise<void>;
  /** A message's bytes from a member; returns a refusal when the message is not taken. */
  onMessage(bytes: Uint8Array, member: string): { reason: string; abusive: boolean } | undefined;
  /** Where a member can be dialled (its registered address). */
  addressOf(member: string): string | undefined;
  log(level: "info" | "warn", fields: Record<string, unknown>, msg: string): void;
};

/** A worker's libp2p node. */
export type Transport = {
  node: Libp2p;
  /** The addresses to register on-chain (with the peer id). */
  addresses(): string[];
  /** Queues a message to a member; per member in order. Never throws: failures are logged. */
  send(member: string, message: Message): void;
  /** Whether a process answers at a registered address (another worker running with this worker's key?). */
  answers(address: string): Promise<boolean>;
  /** What the transport refused since it started. */
  readonly stats: { refusedConnections: number; refusedMessages: number; oversize: number; disconnected: number };
  stop(): Promise<void>;
};

/**
 * Starts a worker's libp2p node.
 *
 * @example
 * ```ts
 * const t = await startTransport({ listen: ["/ip4/0.0.0.0/tcp/9000"], privateKey, hooks });
 * await register(maru, signingKey.address, t.addresses()[0]);
 * t.send(member, { kind: "batch", batch });
 * ```
 */
export async function startTransport(options: {
  listen: string[];
  privateKey: PeerKey;
  hooks: TransportHooks;
}): Promise<Transport> {
  const { hooks } = options;
  const stats = { refusedConnections: 0, refusedMessages: 0, oversize: 0, disconnected: 0 };
  const banned = new Map<string, number>();
  const abuse = new Map<string, number[]>();
  const lastSaid = new Map<string, number>();
  const sayOnce = (key: string, level: "info" | "warn", fields: Record<string, unknown>, msg: string) => {
    if (Date.now() - (lastSaid.get(key) ?? 0) < 60_000) return;
    lastSaid.set(key, Date.now());
    hooks.log(level, fields, msg);
  };
  let lastRefresh = 0;
  const admit = async (peerId: string): Promise<boolean> => {
    if ((banned.get(peerId) ?? 0) > Date.now()) return false;
    if (hooks.memberOf(peerId)) return true;
    if (Date.now() - lastRefresh > 2_000) {
      lastRefresh = Date.now();
      await hooks.refreshMembers();
    }
    return hooks.memberOf(peerId) !== undefined;
  };
  const node = await createLibp2p({
    // Two copies of @libp2p/interface's key types are installed (one nested under a dependency); they agree at run time.
    privateKey: options.privateKey as never,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // libp2p pings every connection each 10 s and aborts it when a ping takes longer than 5 s.
    // A worker's main thread can be busy for seconds under load (verifying, GC, a large batch): an
    // abort then drops every message in flight on the connection, and honest peers look silent.
    // Our own protocol knows who is missing (end notices, resend requests), so a connection is
    // only given up on when a ping has had PING_TIMEOUT_MS.
    connectionMonitor: { pingTimeout: { minTimeout: PING_TIMEOUT_MS, maxTimeout: PING_TIMEOUT_MS * 2 } },
    connectionGater: {
      denyInboundEncryptedConnection: async (peerId) => {
        const id = peerId.toString();
        if (await admit(id)) return false;
        stats.refusedConnections += 1;
        sayOnce(
          `refused|${id}`,
          "warn",
          { peer: id, refused: stats.refusedConnections },
          "connection refused: not a member of the current or next epoch",
        );
        return true;
      },
    },
  });
  const disconnect = (peerId: string, reason: string) => {
    banned.set(peerId, Date.now() + BAN_MS);
    stats.disconnected += 1;
    hooks.log("warn", { peer: peerId, reason, bannedForMs: BAN_MS }, "peer disconnected for abuse");
    const conn = node.getConnections().find((c) => c.remotePeer.toString() === peerId);
    if (conn) void node.hangUp(conn.remotePeer).catch(() => undefined);
  };
  const refused = (peerId: string, reason: string, abusive: boolean) => {
    stats.refusedMessages += 1;
    if (!abusive) {
      sayOnce(`late|${reason.slice(0, 24)}`, "info", { peer: peerId, reason }, "message not taken");
      return;
    }
    const times = (abuse.get(peerId) ?? []).filter((t) => Date.now() - t < ABUSE_WINDOW_MS);
    times.push(Date.now());
    abuse.set(peerId, times);
    sayOnce(`abuse|${peerId}`, "warn", { peer: peerId, reason }, "message refused");
    if (times.length >= ABUSE_LIMIT)
      disconnect(peerId, `${times.length} refused messages in a minute (last: ${reason})`);
  };
  await node.handle(
    BATCH_PROTOCOL,
    async ({ stream, connection }) => {
      const peerId = connection.remotePeer.toString();
      const member = hooks.memberOf(peerId);
      if (!member) {
        stream.abort(new Error("not a member"));
        return;
      }
      try {
        await pipe(
          stream.source,
          (src) => lp.decode(src, { maxDataLength: MAX_MESSAGE_BYTES }),
          async (src) => {
            let since = performance.now();
            for await (const msg of src) {
              if ((banned.get(peerId) ?? 0) > Date.now()) {
                stream.abort(new Error("disconnected for abuse"));
                return;
              }
              const refusal = hooks.onMessage(msg.subarray(), member);
              if (refusal) refused(peerId, refusal.reason, refusal.abusive);
              // Messages already buffered come one after another in microtasks: a backlog of
              // batches (each verified here) would hold timers and I/O for seconds. Let them run.
              if (performance.now() - since > YIELD_AFTER_MS) {
                await new Promise((r) => setImmediate(r));
                since = performance.now();
              }
            }
          },
        );
      } catch (e) {
        const oversize =
          (e as { code?: string; name?: string }).name === "InvalidDataLengthError" ||
          /too long/i.test((e as Error).message);
        if (oversize) {
          stats.oversize += 1;
          disconnect(peerId, `a message over ${MAX_MESSAGE_BYTES} bytes`);
        } else {
          sayOnce(
            `stream|${peerId}`,
            "info",
            { peer: peerId, error: (e as Error).message },
            "an incoming stream ended",
          );
        }
      }
    },
    { maxInboundStreams: 8 },
  );
  // One outbound stream per member: a queue the stream drains, so messages keep their order.
  type Outbound = { to: string; queue: Pushable<Uint8Array>; opened: Promise<void>; ended: boolean; queued: number };
  const outbound = new Map<string, Outbound>();
  const end = (member: string, entry: Outbound) => {
    entry.ended = true;
    entry.queue.end();
    if (outbound.get(member) === entry) outbound.delete(member);
  };
  const open = (member: string, to: string) => {
    const queue = pushable<Uint8Array>();
    const entry: Outbound = { to, queue, opened: Promise.resolve(), ended: false, queued: 0 };
    entry.opened = node.dialProtocol(multiaddr(to), BATCH_PROTOCOL).then((stream) => {
      pipe(
        queue,
        async function* (src) {
          for await (const m of src) {
            entry.queued -= m.length;
            yield m;
          }
        },
        (src) => lp.encode(src),
        stream.sink,
      ).catch((e: Error) => {
        end(member, entry);
        sayOnce(`out|${member}`, "warn", { member, error: e.message }, "the stream to a member failed");
      });
    });
    entry.opened.catch((e: Error) => {
      end(member, entry);
      sayOnce(
        `dial|${member}`,
        "warn",
        { member, address: to, error: e.message.split("\n")[0] },
        "cannot reach a member",
      );
    });
    outbound.set(member, entry);
    return entry;
  };
  const sendNow = (member: string, message: Message) => {
    const to = hooks.addressOf(member);
    if (!to) {
      if (Date.now() - lastRefresh > 2_000) {
        lastRefresh = Date.now();
        void hooks.refreshMembers();
      }
      return sayOnce(`noaddr|${member}`, "warn", { member }, "a member has no registered address yet: message dropped");
    }
    let entry = outbound.get(member);
    if (entry && entry.to !== to) {
      end(member, entry); // the member re-registered (a restart): dial its new address
      entry = undefined;
    }
    const e = entry ?? open(member, to);
    const bytes = encodeMessage(message);
    e.opened.then(
      () => {
        if (e.ended) return; // lost with the stream: the receiver asks again
        if (e.queued + bytes.length > MAX_QUEUED_BYTES) {
          // A peer that does not read must not grow this worker's memory: drop the stream; what
          // it missed, it asks for again once it reads.
          sayOnce(
            `slow|${member}`,
            "warn",
            { member, queued: e.queued },
            "a member does not read: its stream is dropped",
          );
          end(member, e);
          return;
        }
        e.queued += bytes.length;
        e.queue.push(bytes);
      },
      () => undefined,
    );
  };
  return {
    node,
    stats,
    addresses: () => node.getMultiaddrs().map((a) => a.toString()),
    send(member, message) {
      try {
        sendNow(member, message);
      } catch (e) {
        // A member's registered address is any bytes it chose: one that is not a multiaddr must
        // never take the sender down with it.
        sayOnce(`bad|${member}`, "warn", { member, error: (e as Error).message }, "cannot send to a member");
      }
    },
    async answers(address) {
      const ma = multiaddr(address);
      const self = address.endsWith(`/p2p/${node.peerId.toString()}`);
      if (!self) {
        // The noise handshake completes only if a process holds that peer id's key.
        return node.dial(ma, { signal: AbortSignal.timeout(3_000) }).then(
          (c) => (void c.close().catch(() => undefined), true),
          () => false,
        );
      }
      // Our own peer id at another address: libp2p does not dial itself; is anything listening?
      const { host, port } = ma.toOptions();
      return new Promise((resolve) => {
        const socket = connect({ host, port, timeout: 2_000 }, () => (socket.destroy(), resolve(true)));
        socket.on("error", () => resolve(false));
        socket.on("timeout", () => (socket.destroy(), resolve(false)));
      });
    },
    async stop() {
      for (const [member, entry] of [...outbound]) end(member, entry);
      await node.stop();
    },
  };
}
