// ESLint flat config: @eslint/js and typescript-eslint's recommended rules for our TypeScript.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "artifacts/",
      "cache/",
      "typechain-types/",
      "coverage/",
      "client/wasm/", // AssemblyScript: compiled by asc, not by tsc
      "operators/", // AssemblyScript operators (npm run build:operators)
      "client/dist/", // the built package (npm run build:client)
      "build/", // the worker as plain JavaScript (npm run build:worker)
      "deploy/deployments/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
