import { expect } from "chai";
import { randomBytes, hexlify } from "ethers";
import { arweaveIdToBytes32, bytes32ToArweaveId, ArweaveIdError } from "../../client/index.js";

describe("Arweave transaction ids ⇄ bytes32", function () {
  it("round-trips random ids", function () {
    for (let i = 0; i < 200; i++) {
      const b = hexlify(randomBytes(32));
      const id = bytes32ToArweaveId(b);
      expect(id).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(arweaveIdToBytes32(id)).to.equal(b);
    }
  });

  it("decodes a real arlocal id", function () {
    expect(arweaveIdToBytes32("QKmvFezpZF-50TYPzXPBPCQbzkbE1cUdwFqR16wjaTE")).to.match(/^0x40a9af15/);
  });

  it("refuses anything else with a clear error", function () {
    for (const bad of [
      "",
      "short",
      "QKmvFezpZF-50TYPzXPBPCQbzkbE1cUdwFqR16wjaT+",
      "QKmvFezpZF-50TYPzXPBPCQbzkbE1cUdwFqR16wjaTF",
      "x".repeat(44),
    ]) {
      expect(() => arweaveIdToBytes32(bad), bad).to.throw(ArweaveIdError, /is not an Arweave transaction id/);
    }
    expect(() => bytes32ToArweaveId("0x1234")).to.throw(ArweaveIdError, /expected 32 bytes/);
  });
});
