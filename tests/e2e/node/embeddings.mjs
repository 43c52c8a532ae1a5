// /v1/embeddings driven by the official openai npm SDK; run by ../test_embeddings.py.
// usage: BASE_URL=http://127.0.0.1:PORT/v1 MODEL=stories260K N_EMBD=64 node embeddings.mjs
// Prints one "ok NAME" / "FAIL NAME: why" line per check and "N passed, N failed" last.
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const model = process.env.MODEL;
const D = Number(process.env.N_EMBD);
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

check('count_dimension_norm', async () => {
  const inputs = ['Once upon a time', 'there was a cat', 'The end.'];
  const r = await client.embeddings.create({ model, input: inputs, encoding_format: 'float' });
  assert.equal(r.object, 'list');
  assert.equal(r.model, model);
  assert.equal(r.data.length, 3);
  r.data.forEach((d, i) => {
    assert.equal(d.object, 'embedding');
    assert.equal(d.index, i);
    assert.equal(d.embedding.length, D);
    assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-5, `norm ${norm(d.embedding)}`);
  });
  assert.ok(r.usage.prompt_tokens > 3);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
});

check('identical_alone_and_batched', async () => {
  const alone = await client.embeddings.create({ model, input: 'Lily liked the park', encoding_format: 'float' });
  const many = ['a dog', 'Lily liked the park', 'the sun was hot and bright', 'Lily liked the park', 'x'];
  // several requests in flight at once, each batching several inputs
  const rs = await Promise.all([0, 1, 2].map(() => client.embeddings.create({ model, input: many, encoding_format: 'float' })));
  for (const r of rs) {
    assert.deepEqual(r.data[1].embedding, alone.data[0].embedding);
    assert.deepEqual(r.data[3].embedding, alone.data[0].embedding);
  }
});

check('base64_decodes_to_the_same_floats', async () => {
  const input = ['Once upon a time', 'a big red ball'];
  const f = await client.embeddings.create({ model, input, encoding_format: 'float' });
  const raw = await client.embeddings.create({ model, input, encoding_format: 'base64' });
  for (let i = 0; i < 2; i++) {
    const b = Buffer.from(raw.data[i].embedding, 'base64');
    assert.equal(b.length, 4 * D);
    const v = Array.from({ length: D }, (_, k) => b.readFloatLE(4 * k));
    // float JSON carries the float32 values exactly (as doubles)
    assert.deepEqual(v, f.data[i].embedding);
  }
  // the SDK's default asks for base64 and decodes it itself
  const def = await client.embeddings.create({ model, input });
  assert.deepEqual(def.data.map((d) => Array.from(d.embedding)), f.data.map((d) => d.embedding));
});

check('token_array_inputs', async () => {
  const r = await client.embeddings.create({ model, input: [[1, 400, 30], [1, 400, 30, 7]], encoding_format: 'float' });
  assert.equal(r.data.length, 2);
  assert.equal(r.usage.prompt_tokens, 7);
  const one = await client.embeddings.create({ model, input: [1, 400, 30], encoding_format: 'float' });
  assert.deepEqual(one.data[0].embedding, r.data[0].embedding);
});

check('dimensions_refused_unless_the_models', async () => {
  const ok = await client.embeddings.create({ model, input: 'hi', dimensions: D, encoding_format: 'float' });
  assert.equal(ok.data[0].embedding.length, D);
  await assert.rejects(client.embeddings.create({ model, input: 'hi', dimensions: 8 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.param, 'dimensions');
    return true;
  });
});

check('unknown_model_is_404', async () => {
  await assert.rejects(client.embeddings.create({ model: 'nope', input: 'hi' }), (e) => e instanceof OpenAI.NotFoundError);
});

await run();
