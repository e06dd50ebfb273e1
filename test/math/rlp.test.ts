// The receipts trie's RLP encoder (client/oracle/rlp.ts) against ethers' encodeRlp, on random
// nested items: every length class (single bytes below 0x80, short and long strings and lists).
import { expect } from "chai";
import fc from "fast-check";
import { encodeRlp, hexlify, type RlpStructuredDataish } from "ethers";
import { rlpEncode, type RlpItem } from "../../client/oracle/rlp.js";

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 2 }),
  fc.uint8Array({ minLength: 50, maxLength: 60 }),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
);
const { item } = fc.letrec<{ item: RlpItem }>((tie) => ({
  item: fc.oneof({ depthSize: "small", withCrossShrink: true }, bytes, fc.array(tie("item"), { maxLength: 5 })),
}));
const asEthers = (x: RlpItem): RlpStructuredDataish => (x instanceof Uint8Array ? hexlify(x) : x.map(asEthers));

describe("rlpEncode", function () {
  it("encodes as ethers' encodeRlp does, for any nesting and length", function () {
    fc.assert(
      fc.property(item, (x) => {
        expect(hexlify(rlpEncode(x))).to.equal(encodeRlp(asEthers(x)));
      }),
      { numRuns: 400 },
    );
    // A list whose payload needs a two-byte length.
    const big = Array.from({ length: 300 }, (_, i) => new Uint8Array(i % 70));
    expect(hexlify(rlpEncode(big))).to.equal(encodeRlp(asEthers(big)));
  });
});
