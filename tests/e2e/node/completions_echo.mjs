// /v1/completions echo + logprobs through the official openai npm SDK (the
// legacy completions API as evaluation harnesses call it); run by
// ../test_completions_echo.py.
// usage: BASE_URL=http://127.0.0.1:PORT/v1 MODEL=stories260K node completions_echo.mjs
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const model = process.env.MODEL;
const prompt = 'Once upon a time, there was a little dog';

check('score_prompt', async () => {
  const r = await client.completions.create({ model, prompt, max_tokens: 0, echo: true, logprobs: 2 });
  const c = r.choices[0];
  assert.equal(c.text, prompt);
  assert.equal(c.finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 0);
  const lp = c.logprobs;
  assert.equal(lp.tokens.length, r.usage.prompt_tokens);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  for (let i = 1; i < lp.tokens.length; i++) {
    assert.ok(lp.token_logprobs[i] <= 0, `token ${i}: ${lp.token_logprobs[i]}`);
    assert.ok(Object.keys(lp.top_logprobs[i]).length >= 1);
    assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
  }
});

check('stream_echo_first', async () => {
  const stream = await client.completions.create({ model, prompt, max_tokens: 3, temperature: 0, echo: true,
                                                   logprobs: 1, stream: true });
  const chunks = [];
  for await (const ch of stream) chunks.push(...ch.choices);
  assert.equal(chunks[0].text, prompt);
  const plp = chunks[0].logprobs;
  assert.equal(plp.token_logprobs[0], null);
  const gen = chunks.slice(1).filter((c) => c.logprobs);
  assert.equal(gen.length, 3);
  const text = chunks.map((c) => c.text).join('');
  for (const c of gen) assert.ok(text.slice(c.logprobs.text_offset[0]).startsWith(c.logprobs.tokens[0]));
  assert.equal(chunks.at(-1).finish_reason, 'length');
});

run();
