// The governance CLI as its users run it, in a child process against real processes (anvil,
// arlocal): it refuses to run without a network or with a stale addresses book, saying which and
// how to fix it, and integers that are not integers; register-operator's dry run uploads nothing and
// prints no calldata until the blobs are uploaded, a blob whose hash is wrong is refused, and the
// whole batch is simulated as executeBatch; the lock file is keyed by network (every public gateway
// is Arweave mainnet); set-parameter takes token units; list-operators / list-streams; a Safe
// Transaction Builder file decodes to the timelock's schedule; paged reads end on an empty page.
import { expect } from "chai";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { getAddress, id, keccak256, parseUnits } from "ethers";
import { startAnvil, startArlocal, type ChainNode, type Gateway } from "../utils/chainNode.js";
import { deployGovernance } from "../registry/fixture.js";
import { gov } from "./gov.js";
import { uploadBlob } from "../../scripts/governance/arweave.js";
import { ARWEAVE_MAINNET, lockKey, normalizeLock } from "../../scripts/governance/blobs.js";
import { allPages } from "../../scripts/governance/read.js";
import { nextOf } from "../../client/read/page.js";
import { deployEpochs } from "../epochs/fixture.js";
import { chainSourceOf } from "../../client/actions/readChainLogs.js";

const NO_CODE = "0x00000000000000000000000000000000000000aa";

describe("gov: pure parts (paged reads, lock keys)", function () {
  it("a paged read ends on an empty page even when the count says there are more (RPC answers at two blocks)", async function () {
    expect(nextOf(5, 0, 10)).to.equal(undefined);
    expect(nextOf(0, 5, 10)).to.equal(5);
    let calls = 0;
    // Before the fix this asked for page 2 forever: the page is empty, its next is still 2.
    const items = await allPages(async (from) => {
      if (++calls > 10) throw new Error("loops");
      return from === 0 ? { items: [1, 2], next: 2 } : { items: [], next: 2 };
    });
    expect(items).to.deep.equal([1, 2]);
    expect(calls).to.equal(2);
  });

  it("keys lock entries by network: one key for every public gateway, the origin of a local one; old keys read", function () {
    for (const g of ["https://arweave.net", "https://ar-io.net/", "https://g8way.io"])
      expect(lockKey(g), g).to.equal(ARWEAVE_MAINNET);
    expect(lockKey("http://127.0.0.1:1984/")).to.equal("http://127.0.0.1:1984");
    expect(lockKey("http://localhost:1984")).to.equal("http://localhost:1984");
    const { lock, moved } = normalizeLock({
      "https://arweave.net": { "0xaa": "id-a" },
      "https://g8way.io": { "0xbb": "id-b" },
      "http://127.0.0.1:1984": { "0xcc": "id-c" },
      "0xdd": "id-d",
    });
    expect(lock[ARWEAVE_MAINNET]).to.deep.equal({ "0xaa": "id-a", "0xbb": "id-b" });
    expect(lock["http://127.0.0.1:1984"]).to.deep.equal({ "0xcc": "id-c" });
    expect(lock["(gateway unknown)"]).to.deep.equal({ "0xdd": "id-d" });
    expect(moved).to.deep.equal(["https://arweave.net", "https://g8way.io"]);
  });
});

/** How many transactions arlocal holds (its GraphQL endpoint). */
async function arweaveTransactions(gateway: string): Promise<number> {
  const res = await fetch(`${gateway}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ transactions(first: 100) { edges { node { id } } } }" }),
  });
  const body = (await res.json()) as { data: { transactions: { edges: unknown[] } } };
  return body.data.transactions.edges.length;
}

describe("gov CLI: network and book checks, register-operator's blobs, reads, Safe files", function () {
  this.timeout(300_000);
  let node: ChainNode;
  let arlocal: Gateway;
  let conn: Awaited<ReturnType<typeof network.create>>;
  let dir: string;
  let book: string;
  let registry: string;
  let timelock: string;
  let inbox: string;
  const on = () => ["--network", "localhost", "--rpc-url", node.url, "--addresses", book];

  before(async function () {
    [node, arlocal] = await Promise.all([startAnvil(), startArlocal()]);
    conn = await network.create({ network: "localhost", override: { url: node.url } });
    const [deployer] = await conn.ethers.getSigners();
    // Zero delay and the deployer a proposer: --schedule then --execute at once.
    const g = await deployGovernance(conn.ethers, deployer.address, 0);
    timelock = await g.timelock.getAddress();
    registry = await g.registry.getAddress();
    const inboxContract = await conn.ethers.deployContract("StreamInbox", [registry, timelock]);
    inbox = await inboxContract.getAddress();
    dir = await mkdtemp(join(tmpdir(), "maru-gov-cli-"));
    book = join(dir, "31337.json");
    await writeFile(
      book,
      JSON.stringify({ chainId: 31337, startBlock: 0, contracts: { timelock, registry, streamInbox: inbox } }),
    );
  });
  after(async function () {
    await conn?.close();
    await Promise.all([node?.stop(), arlocal?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("before anything else: the network and the addresses book", function () {
    it("refuses to run without --network (it ran on Hardhat's empty in-process chain: 'nothing pending')", function () {
      const r = gov(["status", "--addresses", book]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/No network given/);
      expect(r.stderr).to.match(/configured networks: localhost, sepolia, baseSepolia/);
      expect(r.out).not.to.match(/nothing pending/);
    });

    it("names the configured networks for an unknown one, and the variable to set for a missing one", function () {
      let r = gov(["status", "--addresses", book, "--network", "mainnet"]);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/no network "mainnet" in hardhat.config.ts[\s\S]*localhost, sepolia, baseSepolia/);
      const env = { ...process.env };
      delete env.SEPOLIA_RPC_URL;
      r = gov(["status", "--addresses", book, "--network", "sepolia"], env);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr, r.stderr).to.match(/needs SEPOLIA_RPC_URL, which is not set/);
      expect(r.stderr).to.include("npx hardhat keystore set SEPOLIA_RPC_URL");
    });

    it("refuses integers that are not (--id 1abc, --id 2.7, --from-block 5x) instead of reading 1, 2, 5", function () {
      for (const [args, option, value] of [
        [["deprecate-operator", ...on(), "--id", "1abc", "--dry-run"], "--id", "1abc"],
        [["deprecate-operator", ...on(), "--id", "2.7", "--dry-run"], "--id", "2.7"],
        [["deprecate-operator", ...on(), "--id", "-1", "--dry-run"], "--id", "-1"],
        [["status", ...on(), "--from-block", "5x"], "--from-block", "5x"],
        [["governor", "list", ...on(), "--from-block", "1e3"], "--from-block", "1e3"],
      ] as const) {
        const r = gov([...args]);
        expect(r.status, r.out).to.equal(1);
        expect(r.stderr).to.include(`${option} must be a non-negative integer, got "${value}"`);
      }
    });

    it("says which URL does not answer", function () {
      const r = gov(["status", "--addresses", book, "--network", "localhost", "--rpc-url", "http://127.0.0.1:9"]);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/The node of "localhost" at http:\/\/127\.0\.0\.1:9 does not answer/);
      expect(r.stderr).not.to.match(/\n\s+at /);
    });

    it("refuses a book of another chain, and a book whose contracts have no code (a restarted node)", async function () {
      const other = join(dir, "11155111.json");
      await writeFile(other, JSON.stringify({ chainId: 11155111, contracts: { timelock, registry } }));
      let r = gov(["status", "--network", "localhost", "--rpc-url", node.url, "--addresses", other]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/is for chain 11155111, but the node of "localhost" at .* is chain 31337/);
      expect(r.stderr).to.include("deployments/31337.json");

      const stale = join(dir, "stale.json");
      const gone = "0x00000000000000000000000000000000000000aa";
      await writeFile(stale, JSON.stringify({ chainId: 31337, contracts: { timelock: gone, registry } }));
      r = gov(["status", "--network", "localhost", "--rpc-url", node.url, "--addresses", stale]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/have no code on chain 31337/);
      expect(r.stderr).to.include(`no code at timelock ${gone}`);
      expect(r.stderr).to.match(/restarted since the deployment: deploy again/);
      expect(r.out).not.to.match(/nothing pending/);
    });
  });

  describe("register-operator", function () {
    let manifest: string;
    const definition = Buffer.from(JSON.stringify({ kind: "keyed-reduce", key: "account" }));
    const bytecode = Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 13) & 0xff));

    before(async function () {
      // The input stream, registered through the timelock as governance would.
      for (const mode of ["--schedule", "--execute"]) {
        const r = gov(["register-stream", ...on(), "--name", "transfers", "--schema", "transfer(address,int64)", mode]);
        expect(r.status, r.out).to.equal(0);
      }
      await writeFile(join(dir, "op.json"), definition);
      await writeFile(join(dir, "op.wasm"), bytecode);
      manifest = join(dir, "op.yaml");
      await writeFile(
        manifest,
        [
          "name: balances",
          "version: 1",
          "inputs: [transfers]",
          "outputs:",
          "  - stream: balances",
          "    schema: 'balance(address,int64)'",
          "    partition: { kind: SLICE, offset: 0, length: 20 }",
          "definition: { path: op.json }",
          "bytecode: { path: op.wasm }",
          "",
        ].join("\n"),
      );
    });

    it("--dry-run uploads nothing: it prints what it would upload, with local hashes, and no calldata with zero ids", async function () {
      const before = await arweaveTransactions(arlocal.url);
      const r = gov(["register-operator", ...on(), "--manifest", manifest, "--gateway", arlocal.url, "--dry-run"]);
      expect(r.status, r.out).to.equal(0);
      expect(await arweaveTransactions(arlocal.url), "transactions on the gateway").to.equal(before);
      expect(existsSync(`${manifest}.local.lock.json`) || existsSync(`${manifest}.lock.json`), "a lock file").to.equal(
        false,
      );
      expect(r.stdout).to.include(
        `would upload op.json (${definition.length} bytes, keccak256 ${keccak256(definition)})`,
      );
      expect(r.stdout).to.include(`would upload op.wasm (${bytecode.length} bytes, keccak256 ${keccak256(bytecode)})`);
      expect(r.stdout).to.match(/content hash 0x[0-9a-f]{64}/);
      expect(r.stdout).to.match(/not final: a blob is not uploaded/);
      // Calldata with zero Arweave ids would be scheduled and revert after the delay: none is printed.
      expect(r.stdout).not.to.match(/"schedule"|"execute"|"data"/);
      expect(r.stdout).to.match(/no calldata printed: the operation is not final/);
      expect(r.stdout).to.match(/--schedule .*--safe-json <file> .*--propose/);
    });

    it("refuses a blob whose manifest hash is not the keccak256 of what the gateway serves, showing both", async function () {
      const uploaded = await uploadBlob({ url: arlocal.url }, bytecode);
      const wrong = keccak256(Buffer.from("some other bytes"));
      const bad = join(dir, "wrong-hash.yaml");
      await writeFile(
        bad,
        (await readFile(manifest, "utf8")).replace(
          "bytecode: { path: op.wasm }",
          `bytecode: { arweaveId: "${uploaded}", hash: "${wrong}" }`,
        ),
      );
      const graph = await (await conn.ethers.getContractAt("OperatorRegistry", registry)).graphVersion();
      const r = gov(["register-operator", ...on(), "--manifest", bad, "--gateway", arlocal.url, "--schedule"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(new RegExp(`The bytecode ${uploaded} on .* is not the blob to register`));
      expect(r.stderr).to.include(`the manifest's hash:      ${wrong}`);
      expect(r.stderr).to.include(`keccak256 of the served: ${keccak256(bytecode)}`);
      const tl = await conn.ethers.getContractAt("TimelockController", timelock);
      expect((await tl.queryFilter(tl.filters.CallScheduled())).map((l) => l.args.data.slice(0, 10))).not.to.include(
        (await conn.ethers.getContractAt("OperatorRegistry", registry)).interface.getFunction("registerOperator")!
          .selector,
      );
      expect(await (await conn.ethers.getContractAt("OperatorRegistry", registry)).graphVersion()).to.equal(graph);
    });

    it("uploads, checks, registers; the lock is keyed by gateway and another gateway's ids are not reused", async function () {
      for (const mode of ["--schedule", "--execute"]) {
        const r = gov(["register-operator", ...on(), "--manifest", manifest, "--gateway", arlocal.url, mode]);
        expect(r.status, r.out).to.equal(0);
        if (mode === "--schedule") {
          expect(r.stdout).to.match(/served by .*, keccak256 .* as registered/);
          expect(r.stdout).to.include(
            "simulated: the batch of 2 calls runs as the timelock's executeBatch would run it",
          );
        }
      }
      const lock = JSON.parse(await readFile(`${manifest}.local.lock.json`, "utf8"));
      expect(Object.keys(lock)).to.deep.equal([new URL(arlocal.url).origin]);
      expect(Object.keys(lock[new URL(arlocal.url).origin]).sort()).to.deep.equal(
        [keccak256(definition), keccak256(bytecode)].sort(),
      );
      expect(existsSync(`${manifest}.lock.json`), "no public-gateway lock for arlocal").to.equal(false);
      // The same arlocal under another origin is another gateway: its ids are not taken from the first.
      const otherOrigin = `http://localhost:${arlocal.port}`;
      const r = gov(["register-operator", ...on(), "--manifest", manifest, "--gateway", otherOrigin, "--dry-run"]);
      expect(r.out).to.include(`would upload op.json (${definition.length} bytes`);
    });

    it("simulates the whole batch as executeBatch: a later call that would revert is refused, named", async function () {
      // A new output stream (call 1) and an output another operator produces already: the
      // registration (call 2) fails only in the batch; on its own it failed for want of the new
      // stream, and was scheduled unsimulated.
      const second = join(dir, "second.yaml");
      await writeFile(
        second,
        [
          "name: balances2",
          "version: 1",
          "inputs: [transfers]",
          "outputs:",
          "  - stream: audit",
          "    schema: 'audit(address)'",
          "    partition: { kind: WHOLE }",
          "  - balances",
          "definition: { path: op.json }",
          "bytecode: { path: op.wasm }",
          "",
        ].join("\n"),
      );
      const tl = await conn.ethers.getContractAt("TimelockController", timelock);
      const scheduled = (await tl.queryFilter(tl.filters.CallScheduled())).length;
      for (const mode of [["--dry-run"], ["--schedule"], ["--safe-json", join(dir, "second-plan.json")]]) {
        // Two outputs: a graph the reference worker would not run either (tested below); here the batch.
        const args = ["--manifest", second, "--gateway", arlocal.url, "--allow-unsupported-graph", ...mode];
        const r = gov(["register-operator", ...on(), ...args]);
        expect(r.status, r.out).to.equal(1);
        expect(r.stderr).to.match(
          /registerOperator\(balances2 v1\).* \(call 2 of 2\) would fail when the timelock executes the batch: .*RegistryStreamHasProducer/,
        );
      }
      expect((await tl.queryFilter(tl.filters.CallScheduled())).length, "nothing scheduled").to.equal(scheduled);
      expect(existsSync(join(dir, "second-plan.json"))).to.equal(false);
    });

    it("refuses, before uploading anything, an operator that makes a graph the reference worker cannot run", async function () {
      // An operator that reads the source and the output of another: no stage of the worker's fits it.
      const mixer = join(dir, "mixer.yaml");
      await writeFile(
        mixer,
        [
          "name: mixer",
          "version: 1",
          "inputs: [transfers, balances]",
          "outputs:",
          "  - stream: mixed",
          "    schema: 'mixed(address)'",
          "    partition: { kind: WHOLE }",
          "definition: { path: op.json }",
          "bytecode: { path: op.wasm }",
          "",
        ].join("\n"),
      );
      const before = await arweaveTransactions(arlocal.url);
      const tl = await conn.ethers.getContractAt("TimelockController", timelock);
      const scheduled = (await tl.queryFilter(tl.filters.CallScheduled())).length;
      for (const mode of ["--dry-run", "--schedule"]) {
        const r = gov(["register-operator", ...on(), "--manifest", mixer, "--gateway", arlocal.url, mode]);
        expect(r.status, r.out).to.equal(1);
        expect(r.stderr).to.include(
          "mixer v1 would make a graph the reference worker cannot run: Operator 1 (mixer) reads a source stream and other streams.",
        );
        expect(r.stderr).to.include("workers sit out every epoch whose graph they cannot run");
        expect(r.stderr).to.include("--allow-unsupported-graph");
        expect(r.stderr).not.to.match(/\n\s+at /);
      }
      expect(await arweaveTransactions(arlocal.url), "nothing uploaded").to.equal(before);
      expect((await tl.queryFilter(tl.filters.CallScheduled())).length, "nothing scheduled").to.equal(scheduled);
      // Asked for anyway: the dry run goes on to what it would upload.
      const r = gov([
        "register-operator",
        ...on(),
        "--manifest",
        mixer,
        "--gateway",
        arlocal.url,
        "--dry-run",
        "--allow-unsupported-graph",
      ]);
      expect(r.status, r.out).to.equal(0);
      expect(r.stdout).to.include("would upload op.json");
    });

    it("reuses the ids of another public gateway, and reads a lock keyed by the old gateway origin", async function () {
      // 127.0.0.2 reaches arlocal but is not a local name: the CLI takes it for a public gateway.
      const publicLike = `http://127.0.0.2:${arlocal.port}`;
      const local = JSON.parse(await readFile(`${manifest}.local.lock.json`, "utf8"))[new URL(arlocal.url).origin];
      // The lock as the previous version wrote it: keyed by the gateway it uploaded to.
      await writeFile(`${manifest}.lock.json`, JSON.stringify({ "https://arweave.net": local }));
      const before = await arweaveTransactions(arlocal.url);
      const r = gov(["register-operator", ...on(), "--manifest", manifest, "--gateway", publicLike, "--dry-run"]);
      expect(r.out).not.to.include("would upload");
      expect(r.stdout).to.include("are Arweave mainnet's, valid on every public gateway");
      expect(r.stdout).to.match(/definition .*: served by http:\/\/127\.0\.0\.2.*as registered/);
      expect(r.stderr).to.match(/already registered/); // the same blobs: it was executed above
      expect(await arweaveTransactions(arlocal.url), "no upload").to.equal(before);
    });

    it("list-operators and list-streams, as tables and as JSON", async function () {
      let r = gov(["list-operators", ...on(), "--json"]);
      expect(r.status, r.out).to.equal(0);
      const ops = JSON.parse(r.stdout);
      expect(ops).to.have.length(1);
      expect(ops[0]).to.include({ id: 0, name: "balances", version: 1, deprecated: false });
      expect(ops[0].inputs).to.deep.equal([id("transfers")]);
      expect(ops[0].definitionTxId).to.match(/^[A-Za-z0-9_-]{43}$/);
      r = gov(["list-operators", ...on(), "--names", "transfers,balances"]);
      expect(r.stdout).to.match(/^id\s+name\s+version\s+inputs → outputs/m);
      expect(r.stdout).to.match(/0\s+balances\s+1\s+transfers → balances\s+0x[0-9a-f]{64}/);

      const [, , , feeder] = await conn.ethers.getSigners();
      for (const mode of ["--schedule", "--execute"]) {
        const a = gov(["allow-appender", ...on(), "--stream", "transfers", "--appender", feeder.address, mode]);
        expect(a.status, a.out).to.equal(0);
      }
      r = gov(["list-streams", ...on(), "--json", "--names", "transfers,balances"]);
      expect(r.status, r.out).to.equal(0);
      const streams = JSON.parse(r.stdout);
      expect(streams.map((s: { name: string }) => s.name)).to.deep.equal(["transfers", "balances"]);
      expect(streams[0]).to.include({ sourceKind: "INBOX" });
      expect(streams[0].appenders).to.deep.equal([feeder.address]);
      expect(streams[1]).to.include({ sourceKind: "DERIVED", producer: 0 });
      r = gov(["list-streams", ...on(), "--names", "transfers,balances"]);
      expect(r.stdout).to.match(/transfers\s+0x[0-9a-f]{64}\s+WHOLE\s+INBOX\s+0x/);
      expect(r.stdout).to.match(/balances\s+0x[0-9a-f]{64}\s+SLICE:0:20\s+DERIVED\s+operator 0/);
    });

    it("register-stream --source CHAIN: an ERC-20's Transfer logs on this chain, read back as the worker reads them", async function () {
      const token = await conn.ethers.deployContract("LoadToken");
      const emitter = await token.getAddress();
      const base = ["register-stream", ...on(), "--name", "token_transfers", "--partition", "SLICE:12:20"];
      const event = [
        "--source",
        "CHAIN",
        "--emitter",
        emitter,
        "--event",
        "Transfer(address indexed from, address indexed to, uint256 value)",
      ];
      // What is missing or does not belong is named before anything is sent.
      let r = gov([...base, "--source", "CHAIN", "--emitter", emitter, "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/needs the contract and the event[\s\S]*--emitter <address> --event/);
      r = gov([...base, ...event, "--schema", "x", "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/schema is its event[\s\S]*leave out --schema/);
      r = gov([
        ...base,
        "--source",
        "CHAIN",
        "--emitter",
        NO_CODE,
        "--event",
        "Transfer(address,address,uint256)",
        "--dry-run",
      ]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.include(`No contract at ${NO_CODE} on chain 31337`);
      r = gov([...base, "--source", "CHAIN", "--emitter", emitter, "--event", "Transfer(", "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/is not an event signature/);
      // The key must lie in the logs' data, and not in an address's zero padding.
      r = gov([...base.slice(0, -1), "SLICE:90:20", ...event, "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/SLICE:90:20 ends at byte 110; this event's logs have 96 bytes of data/);
      r = gov([...base.slice(0, -1), "SLICE:0:12", ...event, "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/lies in the zero padding of from[\s\S]*SLICE:12:20/);
      r = gov([...base, "--schema", "x", "--emitter", emitter, "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/--emitter and --event are for CHAIN streams/);
      for (const mode of ["--schedule", "--execute"]) {
        r = gov([...base, ...event, mode]);
        expect(r.status, r.out).to.equal(0);
      }
      expect(r.stdout).to.include(`Transfer(address,address,uint256) logs of ${emitter} on chain 31337`);
      expect(r.stdout).to.include(
        "from (address, indexed) at bytes 0-31, to (address, indexed) at bytes 32-63, value (uint256) at bytes 64-95",
      );
      const reg = await conn.ethers.getContractAt("OperatorRegistry", registry);
      const record = await reg.stream(id("token_transfers"));
      expect(chainSourceOf(record.spec)).to.deep.equal({
        chainId: 31337n,
        emitter: emitter.toLowerCase(),
        topic0: id("Transfer(address,address,uint256)"),
      });
      r = gov(["list-streams", ...on(), "--names", "token_transfers"]);
      expect(r.stdout).to.match(
        new RegExp(`token_transfers\\s+0x[0-9a-f]{64}\\s+SLICE:12:20\\s+CHAIN\\s+logs of ${emitter} on chain 31337`),
      );
    });
  });

  describe("set-parameter", function () {
    let epochBook: string;
    let epochManager: string;
    before(async function () {
      const fx = await deployEpochs(conn.ethers);
      epochManager = await fx.epochs.getAddress();
      await (await fx.epochs.grantRole(await fx.epochs.GOVERNANCE_ROLE(), timelock)).wait();
      epochBook = join(dir, "epochs.json");
      await writeFile(epochBook, JSON.stringify({ chainId: 31337, contracts: { timelock, registry, epochManager } }));
    });
    const at = () => ["--network", "localhost", "--rpc-url", node.url, "--addresses", epochBook];

    it("takes MIN_STAKE in token units (100 or '100 tMARU', never wei) and shows it so", async function () {
      const em = await conn.ethers.getContractAt("EpochManager", epochManager);
      let r = gov(["set-parameter", ...at(), "--param", "MIN_STAKE", "--value", "150", "--dry-run"]);
      expect(r.status, r.out).to.equal(0);
      expect(r.stdout).to.include("MIN_STAKE: 100 tMARU → 150 tMARU");
      expect(r.stdout).not.to.match(/base units/);
      const call = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))).calls[0];
      expect(em.interface.parseTransaction({ data: call.data })!.args[1]).to.equal(parseUnits("150", 18));
      for (const mode of ["--schedule", "--execute"]) {
        r = gov(["set-parameter", ...at(), "--param", "MIN_STAKE", "--value", "150.5 tMARU", mode]);
        expect(r.status, r.out).to.equal(0);
      }
      expect(await em.parameter(0)).to.equal(parseUnits("150.5", 18));
      r = gov(["set-parameter", ...at(), "--param", "MIN_STAKE", "--value", "100 ETH", "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.include('"ETH" is not the stake token: it is tMARU');
    });

    it("takes durations in whole seconds and counts as integers", async function () {
      let r = gov(["set-parameter", ...at(), "--param", "EPOCH_DURATION", "--value", "1.5", "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.include('--value for EPOCH_DURATION is a whole number of seconds, not "1.5"');
      r = gov(["set-parameter", ...at(), "--param", "MAX_WORKERS", "--value", "4x", "--dry-run"]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.include('--value for MAX_WORKERS is a count, not "4x"');
    });
  });

  describe("--safe-json", function () {
    it("--safe-json writes Safe Transaction Builder batches that decode to the timelock's schedule and execute", async function () {
      const [, , safe] = await conn.ethers.getSigners();
      const file = join(dir, "plan.json");
      // A Safe that is no proposer is refused before a file is written.
      let r = gov([
        "register-stream",
        ...on(),
        "--name",
        "prices",
        "--schema",
        "p",
        "--safe-json",
        file,
        "--safe",
        safe.address,
      ]);
      expect(r.status, r.out).to.equal(1);
      expect(r.stderr).to.match(/is not a proposer of the timelock/);
      expect(existsSync(file)).to.equal(false);

      r = gov(["register-stream", ...on(), "--name", "prices", "--schema", "p", "--safe-json", file]);
      expect(r.status, r.out).to.equal(0);
      const schedule = JSON.parse(await readFile(file, "utf8"));
      const execute = JSON.parse(await readFile(join(dir, "plan.execute.json"), "utf8"));
      const tl = await conn.ethers.getContractAt("TimelockController", timelock);
      const reg = await conn.ethers.getContractAt("OperatorRegistry", registry);
      for (const [batch, method] of [
        [schedule, "scheduleBatch"],
        [execute, "executeBatch"],
      ] as const) {
        expect(Object.keys(batch).sort()).to.deep.equal(["chainId", "createdAt", "meta", "transactions", "version"]);
        expect(batch.version).to.equal("1.0");
        expect(batch.chainId).to.equal("31337");
        expect(batch.createdAt).to.be.a("number");
        expect(batch.meta).to.have.keys(
          "name",
          "description",
          "txBuilderVersion",
          "createdFromSafeAddress",
          "createdFromOwnerAddress",
        );
        expect(batch.transactions).to.have.length(1);
        const tx = batch.transactions[0];
        expect(tx.to).to.equal(getAddress(timelock)).and.equal(getAddress(tx.to)); // checksummed
        expect(tx.value).to.equal("0");
        const decoded = tl.interface.parseTransaction({ data: tx.data })!;
        expect(decoded.name).to.equal(method);
        expect(tx.contractMethod.name).to.equal(method);
        expect(tx.contractMethod.payable).to.equal(method === "executeBatch");
        expect(tx.contractMethod.inputs.map((i: { name: string }) => i.name)).to.deep.equal(
          decoded.fragment.inputs.map((i) => i.name),
        );
        expect(Object.keys(tx.contractInputsValues)).to.deep.equal(decoded.fragment.inputs.map((i) => i.name));
        expect(JSON.parse(tx.contractInputsValues.targets)).to.deep.equal([registry]);
        // The call inside is the stream's registration, exactly as register-stream builds it.
        const inner = reg.interface.parseTransaction({ data: decoded.args.payloads[0] })!;
        expect(inner.name).to.equal("registerStream");
        expect(inner.args[0].id).to.equal(id("prices"));
        expect(JSON.parse(tx.contractInputsValues.payloads)).to.deep.equal([...decoded.args.payloads]);
      }
      // Submitted as the Safe would (from the proposer), the schedule and then the execute batch work.
      const [deployer] = await conn.ethers.getSigners();
      for (const batch of [schedule, execute])
        await (
          await deployer.sendTransaction({ to: batch.transactions[0].to, data: batch.transactions[0].data })
        ).wait();
      expect((await reg.stream(id("prices"))).spec.id).to.equal(id("prices"));
    });
  });
});
