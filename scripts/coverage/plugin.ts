/**
 * A project-local Hardhat plugin: with `--coverage`, each contract under contracts/ (not mocks)
 * reports the arm taken at each of its branch points (branches.ts). Without `--coverage` it
 * passes every file through untouched.
 */
import path from "node:path";
import type { HardhatPlugin } from "hardhat/types/plugins";
import type { SolidityHooks } from "hardhat/types/hooks";

/** Files whose branches are measured: the contracts, not the test helpers. */
export function isMeasured(file: string): boolean {
  return file.startsWith("contracts/") && !file.startsWith("contracts/mocks/") && file.endsWith(".sol");
}

const COVERAGE_LIBRARY = "__NomicFoundationCoverage";

const handlers = async (): Promise<Partial<SolidityHooks>> => ({
  preprocessProjectFileBeforeBuilding: async (context, inputSourceName, fsPath, fileContent, solcVersion, next) => {
    // Hardhat's own instrumentation runs inside `next` whichever order the handlers run in; its
    // result is what we add the branch reports to.
    const content = await next(context, inputSourceName, fsPath, fileContent, solcVersion);
    const file = path.relative(context.config.paths.root, fsPath).split(path.sep).join("/");
    if (context.globalOptions.coverage !== true || !isMeasured(file) || !content.includes(COVERAGE_LIBRARY)) {
      return content;
    }
    const { instrumentBranches } = await import("./branches.js");
    return instrumentBranches(content, file, COVERAGE_LIBRARY);
  },
});

const plugin: HardhatPlugin = {
  id: "maru-branch-coverage",
  hookHandlers: { solidity: async () => ({ default: handlers }) },
};

export default plugin;
