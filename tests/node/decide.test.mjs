// Runs every conformance case through the decide export of build/tokengate.wasm under the
// Extism JavaScript SDK. The Go test in this folder writes the inputs and sets:
//
//   TOKENGATE_MODULE   path of the module
//   TOKENGATE_BUNDLE   path of the bundle of the conformance file
//   TOKENGATE_VECTORS  path of a JSON list of {name, input, decision, expect}, where decision
//                      is the native core's decision and expect the case's expected fields

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { env } from 'node:process';
import { after, before, describe, test } from 'node:test';
import { createValidator } from './validator.mjs';

function required(name) {
  const value = env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this test through 'go test ./tests/node'`);
  }
  return value;
}

const modulePath = required('TOKENGATE_MODULE');
const bundle = await readFile(required('TOKENGATE_BUNDLE'), 'utf8');
const vectors = JSON.parse(await readFile(required('TOKENGATE_VECTORS'), 'utf8'));

describe('decide', () => {
  let validator;
  before(async () => {
    validator = await createValidator(modulePath, bundle);
  });
  after(() => validator.close());

  test('vectors cover the conformance file', () => {
    assert.ok(vectors.length >= 47, `only ${vectors.length} vectors`);
  });

  for (const v of vectors) {
    test(v.name, async () => {
      const decision = await validator.decide(v.input);
      assert.deepEqual(decision, v.decision);
      for (const [field, want] of Object.entries(v.expect)) {
        assert.equal(decision[field] ?? (typeof want === 'boolean' ? false : ''), want ?? '', field);
      }
    });
  }

  test('decides at the system clock without now', async () => {
    const v = vectors.find((x) => x.decision.token_id === 'tok_expired' && x.decision.reason === 'expired_token');
    assert.ok(v, 'no vector for tok_expired');
    const { now, ...input } = v.input;
    // tok_expired expired on 2026-05-01, so it is expired at any later system clock.
    assert.equal((await validator.decide(input)).reason, 'expired_token');
  });

  test('describe reports the bundle', async () => {
    const d = await validator.describe();
    assert.equal(d.configured, true);
    assert.match(d.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(d.format, 1);
    assert.ok(d.tokens > 0, `tokens ${d.tokens}`);
    assert.ok(d.endpoints > 0, `endpoints ${d.endpoints}`);
  });
});

describe('without a valid bundle', () => {
  for (const [name, value] of [['missing', undefined], ['invalid', '{"format": 1}']]) {
    test(`${name} bundle decides not_configured and logs why`, async () => {
      const lines = [];
      const logger = { trace() {}, debug() {}, info() {}, warn() {}, error: (m) => lines.push(String(m)) };
      const validator = await createValidator(modulePath, value, { logger });
      try {
        for (let i = 0; i < 2; i++) {
          const decision = await validator.decide(vectors[0].input);
          assert.deepEqual(decision, { allow: false, status: 503, reason: 'not_configured', error: 'unavailable' });
        }
        assert.equal(lines.length, 1, `log lines: ${JSON.stringify(lines)}`);
        assert.match(lines[0], /not_configured/);
      } finally {
        await validator.close();
      }
    });
  }
});

test('invalid input is an error, not a decision', async () => {
  const validator = await createValidator(modulePath, bundle);
  try {
    await assert.rejects(validator.decide({ method: 'GET', path: '/', extra: 1 }), /invalid decide input/);
  } finally {
    await validator.close();
  }
});
