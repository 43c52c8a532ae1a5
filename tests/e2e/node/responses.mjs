// The Responses API through the official openai npm SDK; run by ../test_responses.py.
// usage: BASE_URL=http://127.0.0.1:PORT/v1 MODEL=NAME TOOL_BASE_URL=... TOOL_MODEL=NAME node responses.mjs
// MODEL: stories260K (plain text). TOOL_MODEL: the synthetic Qwen-vocabulary model with the
// Qwen3-Coder template; a named tool_choice opens the call in the prompt and logit_bias (an
// LMX extension) on the end tokens ends it at once, so the output is exactly one call of
// get_weather with arguments "{}".
// Prints "ok NAME" / "FAIL NAME: why" per check and "N passed, N failed" last.
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const tools = new OpenAI({ baseURL: process.env.TOOL_BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const MODEL = process.env.MODEL, TOOL_MODEL = process.env.TOOL_MODEL;
const EOS_BIAS = { 151645: 100, 151643: 100 };
const WEATHER = {
  type: 'function', name: 'get_weather', description: 'Current weather in a city.',
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] }, strict: false,
};

const checkResponse = (r) => {
  assert.match(r.id, /^resp_[A-Za-z0-9]{24}$/);
  assert.equal(r.object, 'response');
  assert.ok(['completed', 'incomplete'].includes(r.status), r.status);
  assert.equal(r.error, null);
  assert.ok(Array.isArray(r.output) && r.output.length >= 1);
  const u = r.usage;
  assert.ok(u.input_tokens > 0 && u.total_tokens === u.input_tokens + u.output_tokens, JSON.stringify(u));
  assert.equal(typeof u.input_tokens_details.cached_tokens, 'number');
  assert.equal(u.output_tokens_details.reasoning_tokens, 0);
};

check('create_text', async () => {
  const r = await client.responses.create({ model: MODEL, instructions: 'You are terse.', input: 'Once upon a time',
                                            max_output_tokens: 16, temperature: 0 });
  checkResponse(r);
  assert.equal(r.instructions, 'You are terse.');
  assert.equal(r.max_output_tokens, 16);
  const m = r.output[0];
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.content[0].type, 'output_text');
  assert.deepEqual(m.content[0].annotations, []);
  assert.ok(r.output_text.length > 0);           // the SDK joins the output_text parts
  assert.equal(r.output_text, m.content[0].text);
  assert.ok(r.usage.output_tokens <= 16);
  if (r.status === 'incomplete') assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  // stored by default: retrieve gives the same object
  const again = await client.responses.retrieve(r.id);
  assert.equal(again.id, r.id);
  assert.deepEqual(again.output, r.output);
});

check('stream_events_in_order', async () => {
  const s = client.responses.stream({ model: MODEL, input: [{ role: 'user', content: 'Once upon a time' }],
                                      max_output_tokens: 12 });
  const events = [];
  for await (const e of s) events.push(e);
  const final = await s.finalResponse();
  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added',
                                       'response.content_part.added']);
  assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
                                     'response.output_item.done', 'response.completed']);
  const deltas = events.filter((e) => e.type === 'response.output_text.delta');
  assert.equal(deltas.length + 8, events.length);
  events.forEach((e, i) => assert.equal(e.sequence_number, i));
  const text = deltas.map((e) => e.delta).join('');
  assert.equal(events.at(-4).text, text);
  checkResponse(final);
  assert.equal(final.output[0].content[0].text, text);
  assert.equal(final.id, events[0].response.id);
  assert.equal(events[0].response.status, 'in_progress');
});

check('store_false_is_not_retrievable', async () => {
  const r = await client.responses.create({ model: MODEL, input: 'Hello', max_output_tokens: 4, store: false });
  checkResponse(r);
  assert.equal(r.store, false);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e.status === 404);
});

check('delete', async () => {
  const r = await client.responses.create({ model: MODEL, input: 'Hello', max_output_tokens: 4 });
  const d = await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e.status === 404);
  void d;
});

check('bad_request_is_a_400', async () => {
  await assert.rejects(client.responses.create({ model: MODEL, input: 'Hi', max_output_tokens: 4, frobnicate: 1 }),
                       (e) => e.status === 400 && e.error.param === 'frobnicate');
  await assert.rejects(client.responses.create({ model: MODEL, input: 'Hi', previous_response_id: 'resp_nope' }),
                       (e) => e.status === 404 && e.error.param === 'previous_response_id');
});

check('function_call_round_trip', async () => {
  const first = await tools.responses.create({
    model: TOOL_MODEL, input: 'What is the weather in Paris?', tools: [WEATHER],
    tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 8, temperature: 0, logit_bias: EOS_BIAS,
  });
  checkResponse(first);
  assert.equal(first.status, 'completed');
  assert.equal(first.output.length, 1);
  const fc = first.output[0];
  assert.equal(fc.type, 'function_call');
  assert.match(fc.id, /^fc_/);
  assert.match(fc.call_id, /^call_[A-Za-z0-9]{24}$/);
  assert.equal(fc.name, 'get_weather');
  assert.equal(fc.arguments, '{}');
  assert.equal(first.output_text, '');
  // the tool's answer, continuing the stored conversation
  const second = await tools.responses.create({
    model: TOOL_MODEL, previous_response_id: first.id, tools: [WEATHER],
    input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"temp_c": 21}' }],
    max_output_tokens: 4, logit_bias: EOS_BIAS,
  });
  checkResponse(second);
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.output[0].type, 'message');
  // the earlier turn (question, call) is in the prompt
  assert.ok(second.usage.input_tokens > first.usage.input_tokens + 5, `${second.usage.input_tokens} vs ${first.usage.input_tokens}`);
  const items = await tools.responses.inputItems.list(second.id);
  const types = items.data.map((i) => i.type);
  assert.deepEqual(types, ['function_call_output', 'function_call', 'message']); // newest first
});

check('function_call_streamed', async () => {
  const s = tools.responses.stream({
    model: TOOL_MODEL, input: 'What is the weather in Paris?', tools: [WEATHER],
    tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 8, temperature: 0, logit_bias: EOS_BIAS,
  });
  const events = [];
  for await (const e of s) events.push(e);
  const final = await s.finalResponse();
  assert.deepEqual(events.map((e) => e.type), [
    'response.created', 'response.in_progress', 'response.output_item.added',
    'response.function_call_arguments.delta', 'response.function_call_arguments.done',
    'response.output_item.done', 'response.completed']);
  assert.equal(events[2].item.type, 'function_call');
  assert.equal(events[2].item.name, 'get_weather');
  assert.equal(events[4].arguments, '{}');
  assert.equal(final.output[0].type, 'function_call');
  assert.equal(final.output[0].call_id, events[5].item.call_id);
  assert.equal(final.output[0].arguments, '{}');
});

await run();
