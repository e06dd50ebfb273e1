// Safe Transaction Builder batch files (the JSON the Safe{Wallet} "Transaction Builder" app
// imports): a Safe that is the timelock's proposer submits the schedule batch, and after the delay
// any Safe (or anyone) the execute batch. The format is the app's BatchFile, version "1.0".
import { writeFile } from "node:fs/promises";
import { getAddress, type FunctionFragment, type Interface, type ParamType } from "ethers";

/** One transaction of a batch file: the calldata, and the method with its inputs for the app to show. */
export type SafeBatchTransaction = {
  to: string;
  value: string;
  data: string;
  contractMethod: {
    inputs: Array<{ internalType: string; name: string; type: string }>;
    name: string;
    payable: boolean;
  };
  contractInputsValues: Record<string, string>;
};

/** A Safe Transaction Builder batch file. */
export type SafeBatchFile = {
  version: "1.0";
  chainId: string;
  createdAt: number;
  meta: {
    name: string;
    description: string;
    txBuilderVersion: string;
    createdFromSafeAddress: string;
    createdFromOwnerAddress: string;
  };
  transactions: SafeBatchTransaction[];
};

/** The app shows and edits arguments as strings: arrays and tuples as JSON, the rest as text. */
function inputValue(type: ParamType, value: unknown): string {
  const plain = (v: unknown): unknown =>
    typeof v === "bigint" ? v.toString() : Array.isArray(v) ? Array.from(v, plain) : v;
  if (type.isArray() || type.isTuple()) return JSON.stringify(plain(value));
  return String(plain(value));
}

/** A batch transaction calling `method` of `iface` on `to` with `args` (the data encodes them). */
export function safeTransaction(iface: Interface, to: string, method: string, args: unknown[]): SafeBatchTransaction {
  const fragment = iface.getFunction(method) as FunctionFragment;
  const values: Record<string, string> = {};
  fragment.inputs.forEach((input, i) => (values[input.name] = inputValue(input, args[i])));
  return {
    to: getAddress(to),
    value: "0",
    data: iface.encodeFunctionData(fragment, args),
    contractMethod: {
      inputs: fragment.inputs.map((p) => ({ internalType: p.type, name: p.name, type: p.type })),
      name: fragment.name,
      payable: fragment.payable,
    },
    contractInputsValues: values,
  };
}

/** A batch file for `chainId`; `safe` (checksummed) when known, so the app checks it opened the right Safe. */
export function safeBatch(o: {
  chainId: bigint | number;
  name: string;
  description: string;
  safe?: string;
  transactions: SafeBatchTransaction[];
}): SafeBatchFile {
  return {
    version: "1.0",
    chainId: o.chainId.toString(),
    createdAt: Date.now(),
    meta: {
      name: o.name,
      description: o.description,
      txBuilderVersion: "1.18.0",
      createdFromSafeAddress: o.safe ? getAddress(o.safe) : "",
      createdFromOwnerAddress: "",
    },
    transactions: o.transactions,
  };
}

/** `plan.json` → `plan.execute.json`: the execute batch beside the schedule one. */
export function executeFileName(file: string): string {
  return /\.json$/i.test(file) ? file.replace(/\.json$/i, ".execute.json") : `${file}.execute.json`;
}

export async function writeSafeBatch(file: string, batch: SafeBatchFile): Promise<void> {
  await writeFile(file, JSON.stringify(batch, null, 2) + "\n");
}
