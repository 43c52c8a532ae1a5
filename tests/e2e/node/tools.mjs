// Tool calls through the official openai npm SDK; run by ../test_server_tools.py.
// usage: BASE_URL=http://127.0.0.1:PORT/v1 MODEL=NAME node tools.mjs
// The server's model has the Qwen3-Coder template, and the request forces a named call
// (tool_choice) and an immediate end of text (logit_bias on the end tokens), so the
// output is exactly one call of get_weather with no arguments.
// Prints "ok NAME" / "FAIL NAME: why" per check and "N passed, N failed" last.
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const body = {
  model: process.env.MODEL,
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
  logit_bias: { 151645: 100, 151643: 100 },
  temperature: 0,
  max_tokens: 4,
};

const checkMessage = (c) => {
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.content, null);
  assert.equal(c.message.tool_calls.length, 1);
  const tc = c.message.tool_calls[0];
  assert.equal(tc.type, 'function');
  assert.match(tc.id, /^call_[A-Za-z0-9]{24}$/);
  assert.deepEqual(tc.function, { name: 'get_weather', arguments: '{}' });
};

check('tools_create', async () => {
  const r = await client.chat.completions.create(body);
  checkMessage(r.choices[0]);
});

check('tools_stream_helper', async () => {
  // the SDK's stream helper assembles delta.tool_calls into the final message
  const runner = client.chat.completions.stream(body);
  const calls = [];
  runner.on('tool_calls.function.arguments.done', (e) => calls.push([e.name, e.arguments]));
  const final = await runner.finalChatCompletion();
  checkMessage(final.choices[0]);
  assert.deepEqual(calls, [['get_weather', '{}']]);
});

await run();
