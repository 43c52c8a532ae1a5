// Drives `lmx serve` with the official openai npm SDK; run by ../test_server_sdk.py.
// usage: BASE_URL=http://127.0.0.1:PORT/v1 MODEL=stories260K node sdk.mjs
// Prints one "ok NAME" / "FAIL NAME: why" line per check and "N passed, N failed" last.
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const model = process.env.MODEL;
const NO_EOS = { 2: -100 };
const msgs = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }];

check('models_list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [model]);
  const m = await client.models.retrieve(model);
  assert.equal(m.object, 'model');
});

check('chat_create', async () => {
  const r = await client.chat.completions.create({ model, messages: msgs, max_tokens: 8, temperature: 0 });
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

check('chat_stream_include_usage', async () => {
  const body = { model, messages: msgs, max_completion_tokens: 10, temperature: 0, logit_bias: NO_EOS };
  const plain = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = '', role = null, finish = null, usage = null, n = 0;
  for await (const c of stream) {
    n++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta.role) role = ch.delta.role;
      text += ch.delta.content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 10);
  assert.ok(n >= 12);
});

check('chat_stream_helper', async () => {
  const runner = client.chat.completions.stream({ model, messages: msgs, max_tokens: 6, temperature: 0, logit_bias: NO_EOS });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, 'length');
  assert.equal(typeof final.choices[0].message.content, 'string');
});

check('n3_seeded', async () => {
  const r = await client.chat.completions.create({ model, messages: msgs, n: 3, seed: 9, temperature: 1, max_tokens: 12, logit_bias: NO_EOS });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  const again = await client.chat.completions.create({ model, messages: msgs, n: 3, seed: 9, temperature: 1, max_tokens: 12, logit_bias: NO_EOS });
  assert.deepEqual(again.choices.map((c) => c.message.content), r.choices.map((c) => c.message.content));
});

check('logprobs', async () => {
  const r = await client.chat.completions.create({ model, messages: msgs, max_tokens: 4, logprobs: true, top_logprobs: 2, temperature: 0, logit_bias: NO_EOS });
  const c = r.choices[0].logprobs.content;
  assert.equal(c.length, 4);
  for (const e of c) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 2);
    assert.ok(Array.isArray(e.bytes));
  }
});

check('stop', async () => {
  const full = (await client.chat.completions.create({ model, messages: msgs, max_tokens: 30, temperature: 0, logit_bias: NO_EOS })).choices[0].message.content;
  const stop = full.slice(6, 10);
  const r = await client.chat.completions.create({ model, messages: msgs, max_tokens: 30, temperature: 0, logit_bias: NO_EOS, stop: [stop] });
  assert.equal(r.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(r.choices[0].finish_reason, 'stop');
});

check('completions_create', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon', max_tokens: 5, temperature: 0, logit_bias: NO_EOS });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].finish_reason, 'length');
  const s = await client.completions.create({ model, prompt: 'Once upon', max_tokens: 5, temperature: 0, logit_bias: NO_EOS, stream: true });
  let t = '';
  for await (const c of s) t += c.choices[0]?.text ?? '';
  assert.equal(t, r.choices[0].text);
});

check('errors_map_to_sdk_classes', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: msgs }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
    assert.equal(e.code, 'model_not_found');
    assert.match(e.message, new RegExp(model));
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model, messages: msgs, temperature: 'hot' }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'temperature');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model, messages: msgs, max_tokens: 100000 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, 'context_length_exceeded');
    return true;
  });
});

check('abort_then_reuse', async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create({ model, messages: msgs, max_tokens: 1500, stream: true, logit_bias: NO_EOS }, { signal: ac.signal });
  let n = 0;
  try {
    for await (const _ of stream) if (++n === 3) ac.abort();
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
  }
  assert.ok(n < 1000, `the stream went on after abort (${n} chunks)`);
  const r = await client.chat.completions.create({ model, messages: msgs, max_tokens: 3 });
  assert.equal(r.choices.length, 1);
});

await run();
