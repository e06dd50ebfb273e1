// A hostile peer, for the chaos devnet and the transport tests: it dials a worker and floods it
// with what an attacker on the internet would send: messages for far-future epochs, for the next
// epoch (to fill the buffer a worker keeps for it), forged end notices, and messages longer than
// the limit. Bounded in count and time, loopback only; it never targets anything but --target.
//   tsx scripts/devnet/flood.ts --target /ip4/127.0.0.1/tcp/P/p2p/ID --epoch E --sender 0x… [--key FILE]
import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { multiaddr } from "@multiformats/multiaddr";
import * as lp from "it-length-prefixed";
import { pipe } from "it-pipe";
import { Command } from "commander";
import { writeFileSync } from "node:fs";
import { hexlify, randomBytes, ZeroHash } from "ethers";
import { encodeMessage, MAX_MESSAGE_BYTES, type Message } from "../../worker/transport/codec.js";
import { BATCH_PROTOCOL, loadPeerKey } from "../../worker/transport/p2p.js";

const program = new Command()
  .requiredOption("--target <multiaddr>", "the worker to flood (a loopback address)")
  .requiredOption("--epoch <e>", "the victim's current epoch")
  .requiredOption("--sender <address>", "the sender the messages claim")
  .option("--key <file>", "a libp2p key file (to flood as a member's peer id); a new identity otherwise")
  .option("--count <n>", "messages of each kind", "60")
  .option("--size <bytes>", "payload bytes per message", String(900 * 1024))
  .option("--kinds <list>", "future,next,forged-done,oversize", "future,next,forged-done,oversize")
  .option("--json <file>", "write what happened as JSON");

/** A batch-shaped message of about `size` bytes for `epoch`, claiming `sender`. */
function junkBatch(epoch: bigint, sender: string, size: number): Uint8Array {
  const header = {
    epoch,
    stream: hexlify(randomBytes(32)),
    shard: 0,
    originShard: 0,
    sender,
    receiver: sender,
    seq: 0n,
    prev: ZeroHash,
    deltasRoot: ZeroHash,
    count: 1,
    batchMsh: ZeroHash,
    cumulativeMsh: ZeroHash,
    inputMsh: ZeroHash,
    firstTime: 0n,
    lastTime: 0n,
  };
  const m: Message = {
    kind: "batch",
    batch: {
      header,
      signature: hexlify(randomBytes(65)),
      deltas: [{ data: hexlify(randomBytes(size)), time: 0n, diff: 1n }],
    },
  };
  return encodeMessage(m);
}

function forgedDone(epoch: bigint, sender: string, receiver: string): Uint8Array {
  return encodeMessage({
    kind: "done",
    done: { epoch, sender, receiver, lastBlock: 1n, stage: 1, channels: [], signature: hexlify(randomBytes(65)) },
  });
}

async function main() {
  const o = program.parse().opts();

  const target = multiaddr(o.target);
  if (!["127.", "::1", "localhost"].some((p) => String(target.toOptions().host).startsWith(p)))
    throw new Error(`refusing to flood ${o.target}: loopback targets only`);
  const node = await createLibp2p({
    ...(o.key ? { privateKey: (await loadPeerKey(o.key)) as never } : {}),
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
  const epoch = BigInt(o.epoch);
  const count = Number(o.count);
  const size = Number(o.size);
  const kinds = String(o.kinds).split(",");
  const result = { connected: false, refusedAtConnect: 0, sent: 0, bytes: 0, streamErrors: 0, gaveUp: false, kinds };
  const report = () => {
    if (o.json) writeFileSync(o.json, JSON.stringify(result) + "\n");
    process.stdout.write(JSON.stringify(result) + "\n");
  };
  // A victim that stops answering ends the flood, not the flooder: what was sent is reported.
  setTimeout(() => {
    result.gaveUp = true;
    report();
    process.exit(0);
  }, 60_000).unref();
  const deadline = Date.now() + 45_000;
  const messages: Uint8Array[] = [];
  for (let i = 0; i < count; ++i) {
    if (kinds.includes("future")) messages.push(junkBatch(epoch + 10n + BigInt(i), o.sender, size));
    if (kinds.includes("next")) messages.push(junkBatch(epoch + 1n, o.sender, size));
    if (kinds.includes("forged-done")) messages.push(forgedDone(epoch, o.sender, o.sender));
  }
  if (kinds.includes("oversize")) messages.push(new Uint8Array(MAX_MESSAGE_BYTES + 1024));
  // Several connections, one after another, as an attacker that is disconnected comes back.
  for (let attempt = 0; attempt < 5 && messages.length > 0 && Date.now() < deadline; ++attempt) {
    try {
      const stream = await node.dialProtocol(target, BATCH_PROTOCOL, { signal: AbortSignal.timeout(5_000) });
      // A victim that stops reading must not hold the flood forever.
      const timer = setTimeout(() => stream.abort(new Error("flood attempt timed out")), 10_000);
      result.connected = true;
      await pipe(
        (async function* () {
          while (messages.length > 0) {
            const m = messages.shift()!;
            result.sent += 1;
            result.bytes += m.length;
            yield m;
          }
        })(),
        (src) => lp.encode(src),
        stream.sink,
      ).finally(() => clearTimeout(timer));
    } catch {
      if (result.connected) result.streamErrors += 1;
      else result.refusedAtConnect += 1;
    }
  }
  // Let the victim read what is still in flight before the connection goes.
  await new Promise((r) => setTimeout(r, 3_000));
  await node.stop();
  report();
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`flood: ${e.message}\n`, () => process.exit(1));
  },
);
