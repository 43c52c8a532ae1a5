// Anthropic's Messages API through the official @anthropic-ai/sdk; run by ../test_anthropic.py.
// usage: BASE_URL=http://127.0.0.1:PORT MODEL=NAME TOOL_BASE_URL=... TOOL_MODEL=NAME node anthropic.mjs
// (base URLs without /v1: the SDK adds it). MODEL: stories260K. TOOL_MODEL: the synthetic
// Qwen-vocabulary model with the Qwen3-Coder template; tool_choice {type: "tool"} opens the call
// in the prompt and logit_bias (an LMX extension) on the end tokens ends it at once, so the
// output is exactly one tool_use of get_weather with input {}.
// Prints "ok NAME" / "FAIL NAME: why" per check and "N passed, N failed" last.
import Anthropic from '@anthropic-ai/sdk';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new Anthropic({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const tools = new Anthropic({ baseURL: process.env.TOOL_BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const MODEL = process.env.MODEL, TOOL_MODEL = process.env.TOOL_MODEL;
const EOS_BIAS = { 151645: 100, 151643: 100 };
const WEATHER = {
  name: 'get_weather', description: 'Current weather in a city.',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

const checkMessage = (m) => {
  assert.match(m.id, /^msg_[A-Za-z0-9]{24}$/);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.ok(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use'].includes(m.stop_reason), m.stop_reason);
  assert.ok(m.usage.input_tokens + (m.usage.cache_read_input_tokens || 0) > 0, JSON.stringify(m.usage));
  assert.equal(typeof m.usage.output_tokens, 'number');
};

check('create_text', async () => {
  const m = await client.messages.create({
    model: MODEL, max_tokens: 16, system: 'You tell stories.', temperature: 0,
    messages: [{ role: 'user', content: 'Once upon a time' }],
  });
  checkMessage(m);
  assert.equal(m.model, MODEL);
  assert.equal(m.content.length, 1);
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.length > 0);
  assert.ok(m.usage.output_tokens <= 16);
  if (m.stop_reason === 'max_tokens') assert.equal(m.usage.output_tokens, 16);
});

check('stream_final_message', async () => {
  const s = client.messages.stream({
    model: MODEL, max_tokens: 12, system: [{ type: 'text', text: 'You tell stories.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Once upon a time' }] }],
  });
  const types = [];
  let text = '';
  s.on('streamEvent', (e) => types.push(e.type));
  s.on('text', (d) => { text += d; });
  const m = await s.finalMessage();
  checkMessage(m);
  assert.equal(m.content[0].type, 'text');
  assert.equal(m.content[0].text, text);
  assert.deepEqual(types.slice(0, 2), ['message_start', 'content_block_start']); // the SDK drops pings
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.ok(types.filter((t) => t === 'content_block_delta').length >= 1);
  assert.equal(m.usage.output_tokens, 12);
  assert.equal(m.stop_reason, 'max_tokens');
});

check('count_tokens', async () => {
  const c = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'Once upon a time' }] });
  assert.ok(c.input_tokens > 3, JSON.stringify(c));
});

check('bad_request_error_shape', async () => {
  await assert.rejects(client.messages.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }),
                       (e) => e.status === 400 && e.error.type === 'error' &&
                         e.error.error.type === 'invalid_request_error' && /max_tokens/.test(e.error.error.message));
  await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] }),
                       (e) => e.status === 404 && e.error.error.type === 'not_found_error');
});

check('tool_use_round_trip', async () => {
  const ask = { role: 'user', content: 'What is the weather in Paris?' };
  const m = await tools.messages.create({
    model: TOOL_MODEL, max_tokens: 8, tools: [WEATHER], tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [ask], temperature: 0, logit_bias: EOS_BIAS,
  });
  checkMessage(m);
  assert.equal(m.stop_reason, 'tool_use');
  assert.equal(m.content.length, 1);
  const tu = m.content[0];
  assert.equal(tu.type, 'tool_use');
  assert.match(tu.id, /^toolu_[A-Za-z0-9]{24}$/);
  assert.equal(tu.name, 'get_weather');
  assert.deepEqual(tu.input, {});
  // the result goes back as a tool_result block; the history renders and the turn completes
  const next = await tools.messages.create({
    model: TOOL_MODEL, max_tokens: 4, tools: [WEATHER], logit_bias: EOS_BIAS,
    messages: [ask, { role: 'assistant', content: m.content },
               { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: [{ type: 'text', text: '21 C, sunny' }] },
                                         { type: 'text', text: 'And tomorrow?' }] }],
  });
  checkMessage(next);
  assert.ok(next.usage.input_tokens + next.usage.cache_read_input_tokens >
            m.usage.input_tokens + m.usage.cache_read_input_tokens + 10);
});

check('tool_use_streamed', async () => {
  const s = tools.messages.stream({
    model: TOOL_MODEL, max_tokens: 8, tools: [WEATHER], tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [{ role: 'user', content: 'What is the weather in Paris?' }], temperature: 0, logit_bias: EOS_BIAS,
  });
  const types = [];
  s.on('streamEvent', (e) => types.push(e.type === 'content_block_delta' ? e.delta.type : e.type));
  const m = await s.finalMessage();
  assert.deepEqual(types, ['message_start', 'content_block_start', 'input_json_delta', 'content_block_stop',
                           'message_delta', 'message_stop']);
  assert.equal(m.stop_reason, 'tool_use');
  assert.equal(m.content[0].type, 'tool_use');
  assert.equal(m.content[0].name, 'get_weather');
  assert.deepEqual(m.content[0].input, {});
});

await run();
