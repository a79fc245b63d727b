// An example of embedding build/tokengate.wasm in a Node.js program with the Extism
// JavaScript SDK (@extism/extism 2.0.0-rc13; 1.0.3 fails on the second call).
//
// As a program it decides one request and prints the decision JSON:
//
//   node validator.mjs MODULE BUNDLE REQUEST_JSON
//
// where MODULE is build/tokengate.wasm, BUNDLE a file written by 'tokengate bundle', and
// REQUEST_JSON the decide input, {"method", "path", "headers": [[name, value], ...], "now"?}.
// It exits 0 for an allowed request, 1 for a denied one, and 2 for a usage error or any
// failure to decide, such as an unreadable file or input that the module rejects.

import createPlugin from '@extism/extism';
import { readFile } from 'node:fs/promises';
import { argv, exit, stderr, stdout } from 'node:process';
import { pathToFileURL } from 'node:url';

/**
 * Loads the module with a bundle and returns a validator. Calls into one plugin must not
 * overlap, so decide() queues them.
 *
 * @param {string} modulePath path of build/tokengate.wasm
 * @param {string} [bundle] the bundle JSON text; without it every decision is not_configured
 * @param {object} [options] logger: a Console for the module's log lines (default console)
 */
export async function createValidator(modulePath, bundle, options = {}) {
  const plugin = await createPlugin(
    { wasm: [{ data: await readFile(modulePath) }] },
    {
      useWasi: true,
      config: bundle === undefined ? {} : { bundle },
      logger: options.logger ?? console,
      logLevel: 'warn',
    },
  );
  let queue = Promise.resolve();
  const call = (name, input) => {
    const result = queue.then(() => plugin.call(name, input));
    queue = result.catch(() => {});
    return result;
  };
  return {
    /** Decides a request and returns the decision object. A rejected promise means deny. */
    async decide(request) {
      const output = await call('decide', JSON.stringify(request));
      if (output === null) {
        throw new Error('decide returned no output');
      }
      return output.json();
    },
    /** Returns the module version and the bundle's digest, format and counts. */
    async describe() {
      return (await call('describe', '')).json();
    },
    close: () => plugin.close(),
  };
}

async function main(args) {
  if (args.length !== 3) {
    stderr.write('usage: node validator.mjs MODULE BUNDLE REQUEST_JSON\n');
    return 2;
  }
  const [modulePath, bundlePath, requestJSON] = args;
  let request;
  try {
    request = JSON.parse(requestJSON);
  } catch (err) {
    stderr.write(`invalid REQUEST_JSON: ${err.message}\n`);
    return 2;
  }
  let validator;
  try {
    validator = await createValidator(modulePath, await readFile(bundlePath, 'utf8'));
    const decision = await validator.decide(request);
    stdout.write(JSON.stringify(decision) + '\n');
    return decision.allow ? 0 : 1;
  } catch (err) {
    stderr.write(`validator.mjs: ${err.message}\n`);
    return 2;
  } finally {
    await validator?.close();
  }
}

if (import.meta.url === pathToFileURL(argv[1]).href) {
  exit(await main(argv.slice(2)));
}
