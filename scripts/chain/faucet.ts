// npm run faucet -- <address> [amount]: test stake and gas for an account on a local chain
// (docs/local.md). It mints the deployment's test token (LocalInfra's TestToken: anyone may mint
// it) and tops the account's ether up to 10 ETH with anvil_setBalance (or hardhat_setBalance).
// Amounts are in token units: `npm run faucet -- 0xabc… 1000` gives 1000 tokens.
import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { Contract, Wallet, formatEther, getAddress, isAddress, parseEther } from "ethers";
import { MaruError } from "../../client/errors/base.js";
import { formatAmount, parseAmount, tokenUnits } from "../../client/units.js";
import { connectProtocol, type AddressesBook } from "../../client/contracts.js";
import { checkBook } from "../../client/books/check.js";
import { openRpc } from "../../client/rpc.js";
import { FAUCET_KEY } from "./keys.js";

const TOKEN = ["function mint(address to, uint256 amount)", "function balanceOf(address) view returns (uint256)"];
const GAS_TOP_UP = parseEther("10");

const program = new Command()
  .name("faucet")
  .description("Test stake tokens and gas for an account on a local chain (npm run chain, npm run deploy:local).")
  .argument("<address>", "the account to fund")
  .argument("[amount]", "tokens, in token units (1000 = 1000 tokens, not wei)", "1000")
  .option("--rpc <url>", "the local chain node", "http://127.0.0.1:8545")
  .option("--addresses <file>", "the addresses book (default: deployments/<chainId>.json)");

async function main() {
  program.parse();
  const [who, amountText] = program.processedArgs as [string, string];
  const o = program.opts<{ rpc: string; addresses?: string }>();
  if (!isAddress(who)) throw new MaruError(`"${who}" is not an address`, { fix: "pass 0x and 40 hex digits" });
  const account = getAddress(who);
  const { provider, chainId } = await openRpc(o.rpc, { fix: "start it with npm run chain (or pass --rpc)" });
  try {
    const file = o.addresses ?? `deployments/${chainId}.json`;
    if (!existsSync(file))
      throw new MaruError(`No addresses book ${file} for chain ${chainId}`, {
        fix: "deploy first: npm run deploy:local",
      });
    const book = JSON.parse(readFileSync(file, "utf8")) as AddressesBook;
    await checkBook(provider, book, { file, where: `the node at ${o.rpc}` });
    const minter = new Wallet(FAUCET_KEY, provider);
    const token = new Contract(book.contracts.stakeToken, TOKEN, minter);
    const units = await tokenUnits(connectProtocol(book, provider));
    const amount = parseAmount(amountText, units);
    try {
      await token.mint.staticCall(account, amount);
    } catch {
      throw new MaruError(`The stake token ${book.contracts.stakeToken} cannot be minted by anyone`, {
        fix: "the faucet serves only a local deployment's test token; on a testnet, get the token from its issuer",
      });
    }
    await (await token.mint(account, amount)).wait();
    const gas = await provider.getBalance(account);
    if (gas < GAS_TOP_UP) {
      const hex = "0x" + GAS_TOP_UP.toString(16);
      await provider
        .send("anvil_setBalance", [account, hex])
        .catch(() => provider.send("hardhat_setBalance", [account, hex]))
        .catch(() => {
          throw new MaruError("The node sets no balances (neither anvil_setBalance nor hardhat_setBalance)", {
            fix: "use npm run chain, anvil or npx hardhat node",
          });
        });
    }
    const balance = (await token.balanceOf(account)) as bigint;
    console.log(
      `${account}: +${formatAmount(amount, units)} (now ${formatAmount(balance, units)}), ` +
        `${formatEther(await provider.getBalance(account))} ETH for gas`,
    );
  } finally {
    provider.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(`faucet: ${e instanceof MaruError ? e.message : (e as Error).message}`);
  process.exit(1);
});
