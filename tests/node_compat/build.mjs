// Bundles a worker as wrangler does with nodejs_compat: esbuild, ES module
// output, Node's built-in modules left to the runtime. CommonJS packages
// that require() a built-in (cookie-signature's require("crypto")) get it
// from a require() the banner defines over the runtime's `node:` modules,
// as wrangler's nodejs_compat plugin arranges.
//
//   node build.mjs ENTRY OUTFILE
import { build } from "esbuild";

const [entry, outfile] = process.argv.slice(2);
const builtins = ["async_hooks", "buffer", "crypto", "events", "process", "util"];
const banner = [
  ...builtins.map((b) => `import __node_${b} from "node:${b}";`),
  `const require = (m) => {`,
  `  const table = { ${builtins.map((b) => `${b}: __node_${b}`).join(", ")} };`,
  `  const name = m.replace(/^node:/, "");`,
  `  if (name in table) return table[name];`,
  "  throw new Error(`Cannot require ${m}`);",
  `};`,
].join("\n");

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  banner: { js: banner },
  logLevel: "error",
});
