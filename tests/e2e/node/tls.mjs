// The official openai npm SDK over HTTPS (the test's CA in NODE_EXTRA_CA_CERTS);
// run by ../test_tls.py. usage: BASE_URL=https://127.0.0.1:PORT/v1 MODEL=... node tls.mjs
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const model = process.env.MODEL;

check('chat_and_stream_over_https', async () => {
  const r = await client.chat.completions.create({
    model, max_tokens: 8, messages: [{ role: 'user', content: 'Once upon a time' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
  let text = '';
  const s = await client.chat.completions.create({
    model, max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'Once upon a time' }],
  });
  for await (const ch of s) text += ch.choices[0]?.delta?.content || '';
  assert.ok(text.length > 0);
});

await run();
