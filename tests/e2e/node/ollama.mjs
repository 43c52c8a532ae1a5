// Drives `lmx serve` with the `ollama` npm client library; run by ../test_ollama.py.
// usage: HOST=http://127.0.0.1:PORT MODEL=stories260K node ollama.mjs
//   PULL=hf.co/org/repo:QUANT  also runs the checks that need the model
//   store and the downloader (pull with progress, JIT load, keep_alive 0, delete);
//   ADMIN_KEY=TOKEN  the admin key those need (the daemon's ~/.lmx/admin.token by default).
// Prints one "ok NAME" / "FAIL NAME: why" line per check and "N passed, N failed" last.
import { Ollama } from 'ollama';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

// pull and delete are admin routes: the daemon's admin token (ADMIN_KEY), as any client must send it
const ollama = new Ollama({
  host: process.env.HOST,
  headers: process.env.ADMIN_KEY ? { 'X-Admin-Key': process.env.ADMIN_KEY } : {},
});
const model = process.env.MODEL;
const tagged = `${model}:latest`;
const msgs = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }];
const greedy = { temperature: 0, num_predict: 8, seed: 1 };

async function rejects(p, status, re) {
  try {
    await p;
  } catch (e) {
    assert.equal(e.name, 'ResponseError', `${e.name}: ${e.message}`);
    assert.equal(e.status_code, status, e.message);
    if (re) assert.match(e.error, re);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

function counters(r) {
  assert.equal(r.done, true);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration'])
    assert.equal(typeof r[k], 'number', k);
  assert.ok(r.prompt_eval_count > 0);
  assert.ok(r.total_duration >= r.eval_duration);
  assert.ok(!Number.isNaN(Date.parse(r.created_at)), r.created_at);
}

check('version', async () => {
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+$/);
});

check('list_tags', async () => {
  const r = await ollama.list();
  const m = r.models.find((x) => x.name === tagged);
  assert.ok(m, JSON.stringify(r));
  assert.equal(m.model, tagged);
  assert.ok(m.size > 0);
  assert.match(m.digest, /^[0-9a-f]{64}$/);
  assert.ok(!Number.isNaN(Date.parse(m.modified_at)));
  assert.equal(m.details.format, 'gguf');
  assert.equal(m.details.family, 'llama');
  assert.deepEqual(m.details.families, ['llama']);
  assert.match(m.details.parameter_size, /^\d+(\.\d)?[KMBT]$/);
  assert.equal(typeof m.details.quantization_level, 'string');
});

check('ps', async () => {
  const r = await ollama.ps();
  const m = r.models.find((x) => x.name === tagged);
  assert.ok(m, JSON.stringify(r));
  assert.ok(m.size > 0);
  assert.equal(m.size_vram, 0);
  assert.ok(Date.parse(m.expires_at) > Date.now(), m.expires_at);
  assert.ok(m.context_length > 0);
  assert.equal(m.details.format, 'gguf');
});

check('show', async () => {
  const r = await ollama.show({ model: tagged });
  assert.match(r.modelfile, /^FROM /m);
  assert.match(r.parameters, /num_ctx/);
  assert.equal(typeof r.template, 'string');
  assert.equal(r.details.format, 'gguf');
  assert.equal(r.model_info['general.architecture'], 'llama');
  assert.ok(r.model_info['general.parameter_count'] > 0);
  assert.equal(typeof r.model_info['llama.context_length'], 'number');
  assert.ok(r.capabilities.includes('completion'));
  await rejects(ollama.show({ model: 'no-such-model' }), 404, /not found/);
});

check('chat', async () => {
  const r = await ollama.chat({ model: tagged, messages: msgs, options: greedy, stream: false });
  assert.equal(r.model, tagged);
  assert.equal(r.message.role, 'assistant');
  assert.equal(typeof r.message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.done_reason));
  counters(r);
  assert.ok(r.eval_count <= 8);
});

check('chat_stream_matches', async () => {
  const plain = await ollama.chat({ model, messages: msgs, options: greedy, stream: false });
  const stream = await ollama.chat({ model, messages: msgs, options: greedy, stream: true });
  let text = '', n = 0, last = null;
  for await (const part of stream) {
    n++;
    last = part;
    if (!part.done) {
      assert.equal(part.message.role, 'assistant');
      text += part.message.content;
    }
  }
  assert.equal(text, plain.message.content);
  assert.equal(last.done_reason, plain.done_reason);
  assert.equal(last.eval_count, plain.eval_count);
  counters(last);
  assert.ok(n >= 2);
});

check('generate', async () => {
  const r = await ollama.generate({ model, prompt: 'Once upon a time', system: 'You tell stories.', options: greedy, stream: false });
  assert.equal(typeof r.response, 'string');
  counters(r);
  const s = await ollama.generate({ model, prompt: 'Once upon a time', system: 'You tell stories.', options: greedy, stream: true });
  let text = '', last = null;
  for await (const part of s) {
    last = part;
    text += part.response;
  }
  assert.equal(text, r.response);
  counters(last);
});

check('generate_raw', async () => {
  const r = await ollama.generate({ model, prompt: 'Once upon a time', raw: true, options: { ...greedy, num_predict: 5 }, stream: false });
  assert.equal(typeof r.response, 'string');
  assert.ok(r.eval_count <= 5);
  counters(r);
});

check('options_mapped', async () => {
  // stop ends the text before the stop string; top_k / repeat_last_n / unknown options are accepted
  const base = await ollama.generate({ model, prompt: 'Once upon a time', raw: true, options: { temperature: 0, num_predict: 30 }, stream: false });
  const words = base.response.trim().split(' ');
  const stopAt = words.length > 2 ? ` ${words[2]}` : null;
  const r = await ollama.generate({
    model, prompt: 'Once upon a time', raw: true, stream: false,
    options: { temperature: 0, num_predict: 30, top_k: 1, repeat_last_n: 64, mirostat: 0, num_thread: 1, ...(stopAt ? { stop: [stopAt] } : {}) },
  });
  if (stopAt) assert.ok(!r.response.includes(stopAt), JSON.stringify([r.response, stopAt]));
});

check('keep_alive_accepted', async () => {
  for (const keep_alive of [-1, '10m', 300, '1h30m']) {
    const r = await ollama.chat({ model, messages: msgs, options: greedy, keep_alive, stream: false });
    assert.equal(r.done, true);
  }
  await rejects(ollama.chat({ model, messages: msgs, keep_alive: 'soon', stream: false }), 400, /keep_alive/);
});

check('load_request', async () => {
  // an empty prompt loads the model and answers done_reason "load"
  const r = await ollama.generate({ model, prompt: '', stream: false });
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'load');
});

check('embed', async () => {
  const r = await ollama.embed({ model: tagged, input: ['Once upon a time', 'the cat'], truncate: true, keep_alive: '5m' });
  assert.equal(r.model, tagged);
  assert.equal(r.embeddings.length, 2);
  const d = r.embeddings[0].length;
  assert.ok(d > 0);
  for (const v of r.embeddings) {
    assert.equal(v.length, d);
    const norm = Math.hypot(...v); // Ollama's /api/embed answers unit vectors
    assert.ok(Math.abs(norm - 1) < 1e-4, String(norm));
  }
  assert.notDeepEqual(r.embeddings[0], r.embeddings[1]);
  assert.ok(r.prompt_eval_count > 0);
  for (const k of ['total_duration', 'load_duration']) assert.equal(typeof r[k], 'number', k);
  // one string; the same text, the same vector
  const one = await ollama.embed({ model, input: 'Once upon a time' });
  assert.equal(one.embeddings.length, 1);
  one.embeddings[0].forEach((x, i) => assert.ok(Math.abs(x - r.embeddings[0][i]) < 1e-5));
  // dimensions: the first components, renormalized
  const short = await ollama.embed({ model, input: 'Once upon a time', dimensions: 4 });
  assert.equal(short.embeddings[0].length, 4);
  assert.ok(Math.abs(Math.hypot(...short.embeddings[0]) - 1) < 1e-4);
  // the legacy route: {embedding}, the same vector
  const legacy = await ollama.embeddings({ model, prompt: 'Once upon a time' });
  assert.equal(legacy.embedding.length, d);
  const n = Math.hypot(...legacy.embedding);
  legacy.embedding.forEach((x, i) => assert.ok(Math.abs(x / n - r.embeddings[0][i]) < 1e-4));
  await rejects(ollama.embed({ model: 'nope', input: 'x' }), 404, /model "nope" not found/);
  await rejects(ollama.embed({ model, input: 'x', truncate: 'no' }), 400, /truncate/);
});

check('errors', async () => {
  await rejects(ollama.chat({ model: 'nope', messages: msgs, stream: false }), 404, /model "nope" not found, try pulling it first/);
  await rejects(ollama.generate({ model: 'nope:7b', prompt: 'x', stream: false }), 404, /not found/);
  await rejects(ollama.chat({ model: '', messages: msgs, stream: false }), 400, /model is required/);
  await rejects(ollama.chat({ model, messages: [{ role: 'user', content: 'x', images: ['aGk='] }], stream: false }), 400, /images/);
  await rejects(ollama.generate({ model, prompt: 'x', suffix: 'y', stream: false }), 400, /suffix/);
  // a streamed request refused before it starts is a plain HTTP error too
  await rejects(ollama.chat({ model: 'nope', messages: msgs, stream: true }), 404, /not found/);
});

// ---- STORE=1: a daemon with no -m and stories260K in its --models-dir (the model manager) ----
const storeChecks = [];
const storeCheck = (name, fn) => storeChecks.push([name, fn]);
storeCheck('store_listed_not_loaded', async () => {
  const tags = await ollama.list();
  assert.ok(tags.models.some((m) => m.name === tagged), JSON.stringify(tags));
  const ps = await ollama.ps();
  assert.deepEqual(ps.models, []);
});
storeCheck('store_jit_load_with_keep_alive', async () => {
  // a model of the store that is not loaded is loaded for the request
  const r = await ollama.chat({ model, messages: msgs, options: greedy, keep_alive: '2m', stream: false });
  counters(r);
  assert.ok(r.load_duration > 0, String(r.load_duration));
  const ps = await ollama.ps();
  const m = ps.models.find((x) => x.name === tagged);
  assert.ok(m, JSON.stringify(ps));
  const left = Date.parse(m.expires_at) - Date.now();
  assert.ok(left > 100_000 && left <= 121_000, m.expires_at); // keep_alive 2m is the ttl
  // loaded now: no load time; a new keep_alive moves expires_at
  const again = await ollama.generate({ model: tagged, prompt: 'Once', options: greedy, keep_alive: '1h', stream: false });
  assert.equal(again.load_duration, 0);
  const m2 = (await ollama.ps()).models.find((x) => x.name === tagged);
  const left2 = Date.parse(m2.expires_at) - Date.now();
  assert.ok(left2 > 3_500_000 && left2 <= 3_601_000, m2.expires_at);
  // negative: never unloaded
  await ollama.generate({ model, prompt: '', keep_alive: -1, stream: false });
  const m3 = (await ollama.ps()).models.find((x) => x.name === tagged);
  assert.equal(m3.expires_at.slice(0, 4), '9999');
});
storeCheck('store_keep_alive_0_unloads_after_the_request', async () => {
  const r = await ollama.generate({ model, prompt: 'Once upon a time', options: greedy, keep_alive: 0, stream: false });
  counters(r);
  let ps;
  for (let i = 0; i < 50; i++) { // unloaded once idle: within moments
    ps = await ollama.ps();
    if (!ps.models.length) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.deepEqual(ps.models, []);
  // an empty request with keep_alive 0 unloads at once
  const l = await ollama.generate({ model, prompt: '', stream: false });
  assert.equal(l.done_reason, 'load');
  assert.equal((await ollama.ps()).models.length, 1);
  const u = await ollama.chat({ model, messages: [], keep_alive: 0, stream: false });
  assert.equal(u.done_reason, 'unload');
  assert.deepEqual((await ollama.ps()).models, []);
});
storeCheck('store_embed_jit_loads', async () => {
  const r = await ollama.embed({ model, input: 'Once upon a time', keep_alive: 0 });
  assert.equal(r.embeddings.length, 1);
  assert.ok(r.load_duration > 0);
});

// ---- pull, JIT load, keep_alive 0, delete (PULL set: a fake hub serves it) ----
if (process.env.PULL) {
  const pulled = process.env.PULL; // hf.co/org/repo:QUANT served by the fake hub
  check('pull_progress', async () => {
    const stream = await ollama.pull({ model: pulled, stream: true });
    const statuses = [];
    let last = null;
    for await (const p of stream) {
      statuses.push(p.status);
      if (p.total) {
        assert.match(p.digest, /^sha256:[0-9a-f]{64}$/);
        assert.ok(p.completed <= p.total);
        last = p;
      }
    }
    assert.equal(statuses[0], 'pulling manifest');
    assert.ok(statuses.some((s) => s.startsWith('downloading')), statuses.join());
    assert.ok(statuses.includes('verifying sha256 digest'), statuses.join());
    assert.equal(statuses.at(-1), 'success');
    assert.equal(last.completed, last.total);
  });
  check('pulled_listed_and_jit_loaded', async () => {
    const id = pulled.replace(/^hf\.co\//, '');
    const tags = await ollama.list();
    assert.ok(tags.models.some((m) => m.name === id), JSON.stringify(tags.models.map((m) => m.name)));
    const r = await ollama.chat({ model: pulled, messages: msgs, options: greedy, keep_alive: '2m', stream: false });
    assert.equal(r.done, true);
    assert.ok(r.load_duration > 0);
    const ps = await ollama.ps();
    const m = ps.models.find((x) => x.name === id);
    assert.ok(m, JSON.stringify(ps));
    const left = Date.parse(m.expires_at) - Date.now();
    assert.ok(left > 60_000 && left <= 125_000, m.expires_at);
  });
  check('keep_alive_0_unloads', async () => {
    const id = pulled.replace(/^hf\.co\//, '');
    const r = await ollama.generate({ model: pulled, prompt: '', keep_alive: 0, stream: false });
    assert.equal(r.done_reason, 'unload');
    const ps = await ollama.ps();
    assert.ok(!ps.models.some((x) => x.name === id), JSON.stringify(ps));
  });
  check('pull_not_streamed', async () => {
    const r = await ollama.pull({ model: pulled, stream: false });
    assert.equal(r.status, 'success');
  });
  check('delete', async () => {
    const id = pulled.replace(/^hf\.co\//, '');
    await ollama.delete({ model: pulled });
    const tags = await ollama.list();
    assert.ok(!tags.models.some((m) => m.name === id));
    await rejects(ollama.delete({ model: pulled }), 404, /not found/);
  });
  check('pull_unknown_repo', async () => {
    await rejects(ollama.pull({ model: 'hf.co/nobody/nothing-GGUF:Q4_0', stream: false }), 404);
  });
}

await run(process.env.STORE ? storeChecks : undefined, 6);
