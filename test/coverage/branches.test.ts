// The branch instrumentation of `npm run coverage` (scripts/coverage/branches.ts): which conditions
// count, and that wrapping them keeps the source compiling and nested conditions nested.
import { expect } from "chai";
import solc from "solc";
import { branchPoints, branchTag, instrumentBranches, lineOf } from "../../scripts/coverage/branches.js";
import { usesSimulatedChain } from "../../scripts/coverage/run.js";

const SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

// Not ASCII, to check byte offsets: § — ü
contract C {
    uint256 constant K = 1 > 0 ? 1 : 2;
    modifier m(bool x) { require(x, "m"); _; }
    function f(uint256 a) external pure m(a > 0 ? true : false) returns (uint256) {
        if (a > 10 ? a > 20 : a < 5) return 1; // § ü
        require(a != 7, "seven");
        return a == 3 ? 3 : 4;
    }
}
`;

const STUB = `
library __NomicFoundationCoverage {
    function sendHit(uint256) internal pure {}
}
`;

function compile(source: string): { severity: string; formattedMessage: string }[] {
  const input = {
    language: "Solidity",
    sources: { "c.sol": { content: source } },
    settings: { outputSelection: { "*": { "*": ["evm.bytecode.object"] } } },
  };
  return JSON.parse(solc.compile(JSON.stringify(input))).errors ?? [];
}

describe("branch coverage instrumentation", function () {
  it("counts if, require and ?: in function and modifier bodies only, in source order", function () {
    const points = branchPoints(SOURCE);
    const bytes = Buffer.from(SOURCE, "utf8");
    const text = (p: { start: number; end: number }) => bytes.subarray(p.start, p.end).toString("utf8");
    expect(points.map((p) => `${lineOf(bytes, p.start)} ${p.kind} ${text(p)}`)).to.deep.equal([
      "7 require x",
      "9 if a > 10 ? a > 20 : a < 5",
      "9 ternary a > 10",
      "10 require a != 7",
      "11 ternary a == 3",
    ]);
  });

  it("wraps each condition once, nested ones inside, and the result compiles", function () {
    const file = "contracts/C.sol";
    const out = instrumentBranches(SOURCE + STUB, file, "__NomicFoundationCoverage");
    const fn = out.match(/function (__maruBranch_[0-9a-f]+)\(/)?.[1];
    expect(fn).to.be.a("string");
    const tag = (k: number, arm: boolean) => `0x${branchTag(file, k, arm)}`;
    expect(out).to.include(
      `if (${fn}(${fn}(a > 10, ${tag(2, true)}, ${tag(2, false)}) ? a > 20 : a < 5, ${tag(1, true)}, ${tag(1, false)}))`,
    );
    expect(out).to.include(`require(${fn}(a != 7, ${tag(3, true)}, ${tag(3, false)}), "seven")`);
    expect(out).to.include("uint256 constant K = 1 > 0 ? 1 : 2;");
    expect(out).to.include("m(a > 0 ? true : false)");
    expect(out).to.include("return 1; // § ü");
    const errors = compile(out).filter((e) => e.severity === "error");
    expect(errors.map((e) => e.formattedMessage)).to.deep.equal([]);
  });

  it("gives every arm of every branch point of every file its own tag", function () {
    const tags = new Set<string>();
    for (const file of ["contracts/A.sol", "contracts/B.sol"]) {
      for (let k = 0; k < 3; k++) for (const arm of [true, false]) tags.add(branchTag(file, k, arm));
    }
    expect(tags.size).to.equal(12);
    for (const t of tags) expect(t).to.match(/^[0-9a-f]{64}$/);
  });

  it("runs the test files that use Hardhat's simulated chain, not those on anvil", function () {
    expect(usesSimulatedChain("const { ethers } = await network.create();")).to.equal(true);
    expect(usesSimulatedChain('await network.create({ network: "localhost", override: { url } });')).to.equal(false);
    expect(usesSimulatedChain("spawn(tsx, ['scripts/devnet/devnet.ts'])")).to.equal(false);
  });
});
