// Structured output through the official openai npm SDK; run by ../test_server_grammar.py.
// usage: BASE_URL=http://127.0.0.1:PORT/v1 MODEL=NAME node grammar.mjs
// The model (stories260K) knows nothing of JSON: every output is shaped by the server's
// grammar alone, sampled at temperature 1.0 with several seeds, and must validate (ajv)
// against the schema it was asked for. Prints "ok NAME" / "FAIL NAME: why" per check and
// "N passed, N failed" last.
import OpenAI from 'openai';
import Ajv from 'ajv/dist/2020.js'; // JSON Schema 2020-12: prefixItems
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local', maxRetries: 0 });
const ajv = new Ajv({ strict: false, allErrors: true });
const MODEL = process.env.MODEL;
const SEEDS = [1, 2, 3, 4, 5];
const messages = [{ role: 'user', content: 'Tell me about a cat.' }];

const SCHEMAS = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 20 },
      age: { type: 'integer', minimum: 0, maximum: 120 },
      height: { type: 'number', minimum: 0.5, exclusiveMaximum: 2.5 },
      pets: {
        type: 'array', minItems: 1, maxItems: 3,
        items: {
          type: 'object',
          properties: { kind: { enum: ['cat', 'dog', 'fish'] }, legs: { type: 'integer', minimum: 0, maximum: 8 } },
          required: ['kind', 'legs'], additionalProperties: false,
        },
      },
      scores: { type: 'array', items: { type: 'number' }, maxItems: 4 },
      nick: { type: ['string', 'null'] },
    },
    required: ['name', 'age', 'pets', 'height'],
    additionalProperties: false,
  },
  choice: {
    anyOf: [
      { type: 'object', properties: { ok: { const: true }, value: { type: 'integer', minimum: -5, maximum: 5 } }, required: ['ok', 'value'], additionalProperties: false },
      { type: 'object', properties: { ok: { const: false }, error: { type: 'string', maxLength: 12 } }, required: ['ok', 'error'], additionalProperties: false },
      { type: 'array', prefixItems: [{ type: 'boolean' }, { enum: ['x', 'y', 1, null] }], items: false, minItems: 2 },
    ],
  },
  tree: {
    $defs: {
      node: {
        type: 'object',
        properties: { label: { type: 'string', maxLength: 8 }, children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
        required: ['label', 'children'], additionalProperties: false,
      },
    },
    $ref: '#/$defs/node',
  },
};

const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: {
    type: 'object', properties: { city: { type: 'string', minLength: 1, maxLength: 16 }, unit: { enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'unit'], additionalProperties: false } } },
  { type: 'function', function: { name: 'add', parameters: {
    type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'], additionalProperties: false } } },
  { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
];
const toolSchema = Object.fromEntries(TOOLS.map((t) => [t.function.name, t.function.parameters]));


function validates(schema, text, what) {
  let v;
  try { v = JSON.parse(text); } catch (e) { assert.fail(`${what}: not JSON: ${JSON.stringify(text)}`); }
  const ok = ajv.validate(schema, v);
  assert.ok(ok, `${what}: ${JSON.stringify(text)} does not validate: ${ajv.errorsText()}`);
  return v;
}

for (const [name, schema] of Object.entries(SCHEMAS)) {
  check(`json_schema_${name}_validates`, async () => {
    for (const seed of SEEDS) {
      const r = await client.chat.completions.create({
        model: MODEL, messages, temperature: 1.0, seed, max_tokens: 96,
        response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } },
      });
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'stop', `seed ${seed}: ${JSON.stringify(c)}`);
      validates(schema, c.message.content, `seed ${seed}`);
    }
  });
}

check('json_schema_n2_and_completions', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages, temperature: 1.0, seed: 9, max_tokens: 96, n: 2,
    response_format: { type: 'json_schema', json_schema: { name: 'p', schema: SCHEMAS.person } },
  });
  assert.equal(r.choices.length, 2);
  for (const c of r.choices) validates(SCHEMAS.person, c.message.content, `choice ${c.index}`);
  const t = await client.completions.create({
    model: MODEL, prompt: 'Once upon a time', temperature: 1.0, seed: 3, max_tokens: 96,
    response_format: { type: 'json_schema', json_schema: { name: 'c', schema: SCHEMAS.choice } },
  });
  validates(SCHEMAS.choice, t.choices[0].text, 'completions');
});

check('json_schema_streamed_matches', async () => {
  const body = { model: MODEL, messages, temperature: 1.0, seed: 4, max_tokens: 96,
    response_format: { type: 'json_schema', json_schema: { name: 't', schema: SCHEMAS.tree } } };
  const whole = await client.chat.completions.create(body);
  let text = '';
  for await (const ch of await client.chat.completions.create({ ...body, stream: true }))
    text += ch.choices[0]?.delta?.content ?? '';
  assert.equal(text, whole.choices[0].message.content);
  validates(SCHEMAS.tree, text, 'streamed');
});

check('json_object_parses', async () => {
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create({
      model: MODEL, messages, temperature: 1.0, seed, max_tokens: 64, response_format: { type: 'json_object' },
    });
    const v = JSON.parse(r.choices[0].message.content);
    assert.ok(v && typeof v === 'object' && !Array.isArray(v), r.choices[0].message.content);
  }
});

check('unsupported_keyword_is_400', async () => {
  await assert.rejects(client.chat.completions.create({
    model: MODEL, messages, max_tokens: 8,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: { '^a': {} } } } },
  }), (e) => e.status === 400 && e.param === 'response_format.json_schema.schema' &&
      /unsupported JSON Schema keyword 'patternProperties'/.test(e.message));
});

function checkCall(c, names, what) {
  assert.equal(c.finish_reason, 'tool_calls', `${what}: ${JSON.stringify(c)}`);
  assert.equal(c.message.tool_calls.length, 1, what);
  const tc = c.message.tool_calls[0];
  assert.equal(tc.type, 'function');
  assert.match(tc.id, /^call_[A-Za-z0-9]{24}$/);
  assert.ok(names.includes(tc.function.name), `${what}: ${tc.function.name}`);
  validates(toolSchema[tc.function.name], tc.function.arguments, `${what} arguments`);
  return tc;
}

check('tool_choice_required_validates', async () => {
  const seen = new Set();
  for (const seed of [...SEEDS, 6, 7, 8]) {
    const r = await client.chat.completions.create({
      model: MODEL, messages, temperature: 1.0, seed, max_tokens: 96, tools: TOOLS, tool_choice: 'required',
    });
    seen.add(checkCall(r.choices[0], TOOLS.map((t) => t.function.name), `seed ${seed}`).function.name);
  }
  assert.ok(seen.size >= 1);
});

check('tool_choice_named_picks_that_tool', async () => {
  for (const name of ['get_weather', 'add', 'ping']) {
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({
        model: MODEL, messages, temperature: 1.0, seed, max_tokens: 96, tools: TOOLS,
        tool_choice: { type: 'function', function: { name } },
      });
      checkCall(r.choices[0], [name], `${name} seed ${seed}`);
    }
  }
});

check('tool_call_stream_reassembles', async () => {
  for (const seed of [1, 3]) {
    const body = { model: MODEL, messages, temperature: 1.0, seed, max_tokens: 96, tools: TOOLS, tool_choice: 'required' };
    const whole = checkCall((await client.chat.completions.create(body)).choices[0], TOOLS.map((t) => t.function.name), 'create');
    // by hand from the deltas
    const calls = {};
    let finish = null;
    for await (const ch of await client.chat.completions.create({ ...body, stream: true })) {
      const c = ch.choices[0];
      if (!c) continue;
      if (c.finish_reason) finish = c.finish_reason;
      for (const d of c.delta?.tool_calls ?? []) {
        const t = (calls[d.index] ??= { id: '', name: '', arguments: '' });
        if (d.id) t.id = d.id;
        if (d.function?.name) t.name += d.function.name;
        if (d.function?.arguments) t.arguments += d.function.arguments;
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(Object.keys(calls), ['0']);
    assert.equal(calls[0].name, whole.function.name);
    assert.equal(calls[0].arguments, whole.function.arguments);
    // and through the SDK's stream helper
    const runner = client.chat.completions.stream(body);
    const final = await runner.finalChatCompletion();
    const tc = checkCall(final.choices[0], [whole.function.name], 'stream helper');
    assert.equal(tc.function.arguments, whole.function.arguments);
  }
});

await run();
