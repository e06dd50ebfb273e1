// The governance CLI in a child process, as its users run it (`npm run gov -- …` without npm).
import { spawnSync } from "node:child_process";

/** Runs the CLI with `args` and returns its exit code and output (`out`: both streams). */
export function gov(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync("npx", ["tsx", "scripts/governance/cli.ts", ...args], { encoding: "utf8", env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out: `${r.stdout}\n${r.stderr}` };
}
