// Measures one decide call of build/tokengate.wasm under the Extism JavaScript SDK, through the
// createValidator example in validator.mjs (JSON request in, decision object out), and prints
// one JSON line for the benchmark report:
//
//   node bench.mjs MODULE BUNDLE REQUEST_JSON_FILE
//
// `make bench` writes BUNDLE and REQUEST_JSON_FILE with `benchreport node-inputs` and passes
// the output to benchreport. The run is bounded: a warm-up of 500 calls, then at most 20,000
// measured calls or 5 seconds, whichever ends first.

import { readFile } from 'node:fs/promises';
import { argv, exit, stderr, stdout, version } from 'node:process';
import { createValidator } from './validator.mjs';

const warmupCalls = 500;
const maxCalls = 20000;
const maxNanoseconds = 5_000_000_000n;

async function sdkVersion() {
  const url = new URL('./node_modules/@extism/extism/package.json', import.meta.url);
  return JSON.parse(await readFile(url, 'utf8')).version;
}

async function main(args) {
  if (args.length !== 3) {
    stderr.write('usage: node bench.mjs MODULE BUNDLE REQUEST_JSON_FILE\n');
    return 2;
  }
  const [modulePath, bundlePath, requestPath] = args;
  const request = JSON.parse(await readFile(requestPath, 'utf8'));
  const validator = await createValidator(modulePath, await readFile(bundlePath, 'utf8'));
  try {
    const first = await validator.decide(request);
    if (!first.allow) {
      stderr.write(`the allowed request was denied: ${JSON.stringify(first)}\n`);
      return 1;
    }
    for (let i = 0; i < warmupCalls; i++) {
      await validator.decide(request);
    }
    let calls = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    while (calls < maxCalls && elapsed < maxNanoseconds) {
      await validator.decide(request);
      calls++;
      elapsed = process.hrtime.bigint() - start;
    }
    stdout.write(JSON.stringify({
      name: 'decide through validator.mjs',
      runtime: `@extism/extism ${await sdkVersion()}`,
      node: version,
      iterations: calls,
      ns_per_op: Number(elapsed) / calls,
    }) + '\n');
    return 0;
  } finally {
    await validator.close();
  }
}

exit(await main(argv.slice(2)));
