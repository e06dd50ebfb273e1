// End to end: arlocal (a real Arweave gateway, separate process), the governance set-up on the
// simulated network, an operator manifest registered through the timelock, and syncGraph.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { keccak256, id } from "ethers";
import { syncGraph, BlobHashMismatchError } from "../../client/index.js";
import {
  deprecateOperator,
  registerOperator,
  runThroughTimelock,
  setParameter,
  status,
  type Context,
} from "../../scripts/governance/operations.js";
import { loadManifest, ManifestError } from "../../scripts/governance/manifest.js";
import { graphText, readGraph, toJson } from "../../scripts/governance/read.js";
import { deployEpochs, joinWorker, PARAMS, requestIdOf } from "../epochs/fixture.js";
import { deployGovernance, rejects, streamSpec } from "./fixture.js";
import { startArlocal, type Gateway } from "../utils/chainNode.js";
import { scratchDir } from "../utils/scratch.js";

const { ethers, networkHelpers } = await network.create();
const DELAY = 86_400;

/** A gateway that serves every blob with its first byte flipped. */
async function tamperingProxy(upstream: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    const r = await fetch(`${upstream}${req.url}`);
    const body = new Uint8Array(await r.arrayBuffer());
    if (body.length) body[0] ^= 0xff;
    res.writeHead(r.status, { "content-type": "application/octet-stream" });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}` };
}

describe("registry end to end: manifest → Arweave → timelock → syncGraph", function () {
  let arlocal: Gateway;
  before(async function () {
    arlocal = await startArlocal();
  });
  after(async function () {
    await arlocal?.stop();
  });

  it("refuses a bad manifest, naming each field", async function () {
    const dir = scratchDir("maru-manifest-");
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "name: ''\nversion: -1\ninputs: []\noutputs: [x]\ndefinition: { path: d }\nbytecode: { arweaveId: short }\nextra: 1\n",
    );
    try {
      await loadManifest(file);
      expect.fail("accepted a bad manifest");
    } catch (e) {
      expect(e).to.be.instanceOf(ManifestError);
      const text = (e as ManifestError).problems.join("\n");
      expect(text).to.match(/name: must not be empty/);
      expect(text).to.match(/version: /);
      expect(text).to.match(/inputs: needs at least one input stream/);
      expect(text).to.match(/bytecode/);
      expect(text).to.match(/extra|Unrecognized/i);
    }
  });

  it("the CLI reports a bad manifest with exit code 1 and no stack trace", async function () {
    const dir = scratchDir("maru-cli-");
    await writeFile(
      join(dir, "bad.json"),
      JSON.stringify({ name: "x", version: 1, inputs: ["a"], outputs: ["b"], definition: { path: "d" } }),
    );
    await writeFile(
      join(dir, "book.json"),
      JSON.stringify({ timelock: ethers.ZeroAddress, registry: ethers.ZeroAddress }),
    );
    const r = spawnSync(
      "npx",
      [
        "tsx",
        "scripts/governance/cli.ts",
        "register-operator",
        "--addresses",
        join(dir, "book.json"),
        "--manifest",
        join(dir, "bad.json"),
        "--dry-run",
      ],
      { encoding: "utf8" },
    );
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/bytecode: /);
    expect(r.stderr).not.to.match(/\n\s+at /);
  });

  it("hands every role to the timelock, registers through it, and syncs the pinned graph", async function () {
    const fx = await deployEpochs(ethers);
    const [deployer, proposer] = [fx.admin, fx.others[9]];
    // Workers commit to epoch 1 while its window is open (the timelock delays outlast it).
    for (const w of fx.others.slice(0, 3)) {
      await joinWorker(fx, w);
      await fx.epochs.connect(w).commit(1);
    }
    const { timelock, registry } = await deployGovernance(ethers, proposer.address, DELAY);
    const tl = await timelock.getAddress();
    // Set-up by the deployer, then hand over and renounce.
    await fx.epochs.setGraphSource(await registry.getAddress());
    for (const role of [await fx.epochs.GOVERNANCE_ROLE(), await fx.epochs.DEFAULT_ADMIN_ROLE()]) {
      await fx.epochs.grantRole(role, tl);
      await fx.epochs.renounceRole(role, deployer.address);
    }
    await fx.beacon.transferOwnership(tl);
    const ctx: Context = {
      provider: ethers.provider,
      signer: proposer,
      book: { timelock: tl, registry: await registry.getAddress(), epochManager: await fx.epochs.getAddress() },
      log: () => {},
    };
    const accept = fx.beacon.interface.encodeFunctionData("acceptOwnership");
    await runThroughTimelock(
      ctx,
      [{ target: await fx.beacon.getAddress(), data: accept, description: "acceptOwnership" }],
      "schedule",
    );
    await networkHelpers.time.increase(DELAY);
    await runThroughTimelock(
      ctx,
      [{ target: await fx.beacon.getAddress(), data: accept, description: "acceptOwnership" }],
      "execute",
    );

    // The deployer keeps nothing.
    for (const [c, roles] of [
      [fx.epochs, [await fx.epochs.DEFAULT_ADMIN_ROLE(), await fx.epochs.GOVERNANCE_ROLE()]],
      [registry, [await registry.DEFAULT_ADMIN_ROLE(), await registry.REGISTRAR_ROLE()]],
      [
        timelock,
        [await timelock.DEFAULT_ADMIN_ROLE(), await timelock.PROPOSER_ROLE(), await timelock.CANCELLER_ROLE()],
      ],
    ] as const) {
      for (const role of roles)
        expect(await c.hasRole(role, deployer.address), `deployer role ${role}`).to.equal(false);
    }
    expect(await fx.epochs.slasher(), "the deployer is not the slasher").to.not.equal(deployer.address);
    expect(await fx.beacon.owner()).to.equal(tl);
    expect(await fx.epochs.hasRole(await fx.epochs.GOVERNANCE_ROLE(), tl)).to.equal(true);

    // Input streams through the timelock.
    const streamCalls = ["transfers", "prices"].map((n) => ({
      target: ctx.book.registry,
      data: registry.interface.encodeFunctionData("registerStream", [streamSpec(n)]),
      description: n,
    }));
    await runThroughTimelock(ctx, streamCalls, "schedule");
    await networkHelpers.time.increase(DELAY);
    await runThroughTimelock(ctx, streamCalls, "execute");

    // The manifest, its blobs uploaded to arlocal by the script.
    const dir = scratchDir("maru-op-");
    const definition = Buffer.from(JSON.stringify({ kind: "keyed-reduce", key: "account", value: "amount" }));
    const bytecode = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
    await writeFile(join(dir, "balances.json"), definition);
    await writeFile(join(dir, "balances.wasm"), bytecode);
    const manifest = join(dir, "balances.yaml");
    await writeFile(
      manifest,
      [
        "name: balances",
        "version: 1",
        "inputs: [transfers, prices]",
        "outputs:",
        "  - stream: balances",
        "    schema: 'balance(address account, int256 amount)'",
        "    partition: { kind: SLICE, offset: 0, length: 20 }",
        "definition: { path: balances.json }",
        "bytecode: { path: balances.wasm }",
        "",
      ].join("\n"),
    );
    const gateway = { url: arlocal.url };
    // A join of two INBOX streams: a graph the registry takes and the reference worker does not run
    // (the CLI would refuse it); this test is about the registry, so it asks for it anyway.
    const opts = { manifest, gateway, allowUnsupportedGraph: true };
    // The batch (registerStream(balances), registerOperator) is simulated whole, as executeBatch:
    // Hardhat's node takes eth_call's state override too.
    const logged: string[] = [];
    await registerOperator({ ...ctx, log: (l) => logged.push(l) }, { ...opts, mode: "schedule" });
    expect(logged, logged.join("\n")).to.include(
      "  simulated: the batch of 2 calls runs as the timelock's executeBatch would run it",
    );
    await rejects(registerOperator(ctx, { ...opts, mode: "execute" }), /not ready/);
    await networkHelpers.time.increase(DELAY);
    await registerOperator(ctx, { ...opts, mode: "execute" });
    await rejects(registerOperator(ctx, { ...opts, mode: "execute" }), /already executed/);
    // Without asking, the operator is refused before anything is uploaded or proposed, saying why.
    await rejects(
      registerOperator(ctx, { manifest, gateway, mode: "schedule" }),
      /balances v1 would make a graph the reference worker cannot run: .*reads INBOX stream .* beside 1 other source stream/,
    );

    // Epoch 1 pins the graph at freeze (now, after the registration; the window closed long ago).
    await fx.epochs.freeze(1);
    await fx.coordinator.fulfillRandomWords(await requestIdOf(fx.epochs, 1), await fx.beacon.getAddress());
    const [version, hash] = await registry.graphState();
    expect((await fx.epochs.epochInfo(1)).graphHash).to.equal(hash);

    const cacheDir = scratchDir("maru-cache-");
    const params = {
      provider: ethers.provider,
      epochManager: ctx.book.epochManager!,
      registry: ctx.book.registry,
      epoch: 1n,
      gateway: arlocal.url,
      cacheDir,
    };
    const graph = await syncGraph(params);
    expect(graph.version).to.equal(version);
    expect(graph.streams.map((s) => s.id)).to.deep.equal([id("transfers"), id("prices"), id("balances")]);
    expect(graph.streams[2].producer).to.equal(0);
    const op = graph.operators[0];
    expect([op.name, op.status]).to.deep.equal(["balances", "ACTIVE"]);
    expect(Buffer.from(op.definition!).equals(definition)).to.equal(true);
    expect(Buffer.from(op.bytecode!).equals(bytecode)).to.equal(true);
    expect((await readdir(cacheDir)).sort()).to.deep.equal(
      [keccak256(definition).slice(2), keccak256(bytecode).slice(2)].sort(),
    );

    // A tampering gateway is refused, and nothing it served is cached.
    const proxy = await tamperingProxy(arlocal.url);
    try {
      const emptyCache = scratchDir("maru-cache2-");
      let refused: unknown;
      try {
        await syncGraph({ ...params, gateway: proxy.url, cacheDir: emptyCache });
      } catch (e) {
        refused = e;
      }
      expect(refused).to.be.instanceOf(BlobHashMismatchError);
      expect((refused as BlobHashMismatchError).operatorId).to.equal(0);
      expect((refused as BlobHashMismatchError).kind).to.equal("definition");
      expect(await readdir(emptyCache)).to.deep.equal([]);
      // With the honest cache, the tampering gateway is never asked.
      const cached = await syncGraph({ ...params, gateway: proxy.url });
      expect(Buffer.from(cached.operators[0].bytecode!).equals(bytecode)).to.equal(true);
    } finally {
      proxy.server.close();
    }
    // arlocal's ids go to the git-ignored local lock, keyed by the gateway they came from.
    const lock = JSON.parse(await readFile(`${manifest}.local.lock.json`, "utf8"));
    expect(Object.keys(lock[new URL(arlocal.url).origin])).to.have.length(2);

    // gov graph --epoch 1: the pinned graph as the worker syncs it, as a table and as JSON.
    const pinned = await readGraph({ provider: ethers.provider, book: ctx.book }, 1n, arlocal.url);
    expect(pinned.graphHash).to.equal(hash);
    const text = graphText(
      pinned,
      new Map(
        [id("transfers"), id("prices"), id("balances")].map((x, i) => [x, ["transfers", "prices", "balances"][i]]),
      ),
    ).join("\n");
    expect(text).to.include(`epoch 1: graph version ${version}, hash ${hash}`);
    expect(text).to.match(/balances\s+SLICE:0:20\s+DERIVED\s+operator 0/);
    expect(text).to.match(/0\s+balances\s+1\s+ACTIVE\s+transfers, prices → balances/);
    expect(JSON.parse(toJson(pinned)).operators[0].bytecode).to.deep.equal({ bytes: bytecode.length });
    await rejects(readGraph({ provider: ethers.provider, book: ctx.book }, 2n, arlocal.url), /Epoch 2 has no data yet/);

    // deprecate-operator and set-parameter through the timelock; status sees them.
    await deprecateOperator(ctx, { id: 0, mode: "schedule" });
    // Amounts in token units, never wei: "200 tMARU" is 2 × the fixture's 100 tMARU.
    expect(PARAMS.minStake).to.equal(100n * 10n ** 18n);
    const shown: string[] = [];
    await setParameter(
      { ...ctx, log: (l) => shown.push(l) },
      { param: "MIN_STAKE", value: "200 tMARU", mode: "schedule" },
    );
    expect(shown).to.include("  MIN_STAKE: 100 tMARU → 200 tMARU");
    const pending = await status(ctx, {});
    expect(pending.filter((r) => r.state === "Waiting")).to.have.length(2);
    await networkHelpers.time.increase(DELAY);
    await deprecateOperator(ctx, { id: 0, mode: "execute" });
    await setParameter(ctx, { param: "MIN_STAKE", value: "200", mode: "execute" });
    expect(await fx.epochs.parameter(0)).to.equal(2n * PARAMS.minStake);
    expect((await status(ctx, {})).every((r) => r.state === "Done")).to.equal(true);
    await rejects(deprecateOperator(ctx, { id: 0, mode: "schedule" }), /already deprecated/);
    // Epoch 1 still syncs the graph it pinned: the operator is active there.
    const again = await syncGraph(params);
    expect(again.operators[0].status).to.equal("ACTIVE");
    expect(again.graphHash).to.equal(hash);
  });
});
