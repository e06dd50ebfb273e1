import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// Worker nodes install the client without Hardhat (STYLE.md): no file under client/ may import
// hardhat or a Hardhat plugin. Type-only imports of generated typechain types are fine.
describe("client/ imports no Hardhat at run time", function () {
  it("has no hardhat or @nomicfoundation import", function () {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory() && e.name !== "build") walk(p);
        else if (/\.(ts|js|mjs)$/.test(e.name)) files.push(p);
      }
    };
    walk("client");
    expect(files.length).to.be.greaterThan(5);
    const offenders = files.filter((f) =>
      /^\s*import\s+(?!type\b)[^;]*from\s+["'](hardhat|@nomicfoundation\/)/m.test(readFileSync(f, "utf8")),
    );
    expect(offenders).to.deep.equal([]);
  });
});
