// The WebSocket endpoint (/v1/realtime) driven by the npm `ws` client; run by
// ../test_ws.py. usage: WS_URL=ws://127.0.0.1:P/v1/realtime MODEL=... KEY=... \
//   BUSY_URL=ws://127.0.0.1:Q/v1/realtime BUSY_MODEL=... node ws.mjs
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const url = process.env.WS_URL, model = process.env.MODEL, key = process.env.KEY;

function open(u, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(u, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

// Collects every message per id until `until(msgs)` holds or the time runs out.
function collect(ws, until, ms = 60000) {
  return new Promise((resolve, reject) => {
    const byId = {};
    const all = [];
    const t = setTimeout(() => reject(new Error(`timed out: ${JSON.stringify(all.slice(-5))}`)), ms);
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      all.push(m);
      (byId[m.id] ||= []).push(m);
      if (until(byId, all)) {
        clearTimeout(t);
        resolve({ byId, all });
      }
    });
  });
}

const chat = (id, content, max_tokens, extra = {}) => JSON.stringify({
  type: 'response.create', id, request: { model, max_tokens, messages: [{ role: 'user', content }], ...extra },
});
// A stream that is still running when its cancel arrives: the synthetic model's
// end-of-generation token could otherwise end it first (a 512-token vocabulary),
// and the engine decodes a few thousand tokens a second (the server runs at -c 32768).
const LONG = 30000;
const text = (msgs) => msgs.filter((m) => m.type === 'response.delta')
  .map((m) => m.data.choices[0]?.delta?.content || '').join('');
const done = (msgs) => (msgs || []).find((m) => m.type === 'response.done');

check('two_chats_stream_on_one_socket_and_a_third_is_cancelled', async () => {
  const ws = await open(url, { Authorization: `Bearer ${key}` });
  const got = collect(ws, (b) => done(b.a) && done(b.b) && done(b.c));
  ws.send(chat('a', 'Once upon a time', 40));
  ws.send(chat('b', 'The cat', 40));
  ws.send(chat('c', 'A long story', LONG, { ignore_eos: true }));
  // cancel c once it has produced something
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.id === 'c' && m.type === 'response.delta' && !ws.cancelSent) {
      ws.cancelSent = true;
      ws.send(JSON.stringify({ type: 'response.cancel', id: 'c' }));
    }
  });
  const { byId, all } = await got;
  for (const id of ['a', 'b']) {
    assert.equal(byId[id][0].type, 'response.created');
    assert.equal(done(byId[id]).status, 'completed');
    assert.ok(text(byId[id]).length > 0, `no text for ${id}`);
    const last = byId[id].filter((m) => m.type === 'response.delta').pop();
    assert.ok(last.data.choices[0].finish_reason, 'the last delta carries the finish');
  }
  assert.equal(done(byId.c).status, 'cancelled');
  const cTokens = byId.c.filter((m) => m.type === 'response.delta').length;
  assert.ok(cTokens < LONG, `c was not cut short (${cTokens} deltas)`);
  // multiplexed: the requests' frames interleave on the socket (b streams before a is done)
  const at = (id, type) => all.findIndex((m) => m.id === id && m.type === type);
  assert.ok(at('b', 'response.delta') < at('a', 'response.done') ||
            at('a', 'response.delta') < at('b', 'response.done'), 'the requests ran one after the other');
  ws.close();
});

check('ping_is_answered_with_pong', async () => {
  const ws = await open(url, { Authorization: `Bearer ${key}` });
  const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(String(d))));
  ws.ping('hello');
  assert.equal(await pong, 'hello');
  ws.close();
});

check('missing_key_gets_401_before_the_upgrade', async () => {
  await assert.rejects(open(url), (e) => e.status === 401);
});

check('bad_messages_get_error_frames_and_the_socket_stays_open', async () => {
  const ws = await open(url, { Authorization: `Bearer ${key}` });
  const got = collect(ws, (b, all) => all.length >= 3);
  ws.send('not json');
  ws.send(JSON.stringify({ type: 'response.create', id: 'x', request: { model: 'no-such-model', messages: [] } }));
  ws.send(JSON.stringify({ type: 'nope', id: 'y' }));
  const { all } = await got;
  assert.deepEqual(all.map((m) => m.type), ['error', 'error', 'error']);
  assert.ok(all[1].status === 400 || all[1].status === 404, JSON.stringify(all[1]));
  ws.close();
});

check('flooding_past_the_queue_gets_429_frames_with_retry_after', async () => {
  const ws = await open(process.env.BUSY_URL);
  const n = 8;
  const got = collect(ws, (b) => Object.keys(b).length >= n &&
    Object.values(b).every((ms) => done(ms) || ms.some((m) => m.type === 'error')));
  for (let i = 0; i < n; i++)
    ws.send(JSON.stringify({ type: 'response.create', id: `f${i}`,
      request: { model: process.env.BUSY_MODEL, max_tokens: 300, messages: [{ role: 'user', content: 'a' }] } }));
  const { byId } = await got;
  const errs = Object.values(byId).flatMap((ms) => ms.filter((m) => m.type === 'error'));
  const ok = Object.values(byId).filter((ms) => done(ms)?.status === 'completed');
  assert.ok(errs.length >= 1, 'no request was refused');
  assert.ok(ok.length >= 2, `only ${ok.length} completed`);
  for (const e of errs) {
    assert.equal(e.status, 429);
    assert.equal(e.error.code, 'queue_full');
    assert.ok(e.retry_after >= 1 && e.retry_after <= 59, JSON.stringify(e));
  }
  ws.close();
});

// greedy (temperature 0) when compared with the SSE stream; sampled otherwise
const responses = (id, input, max_output_tokens, m = model, greedy = true, extra = {}) => JSON.stringify({
  type: 'response.create', id,
  response: { model: m, input, max_output_tokens, ...(greedy ? { temperature: 0 } : {}), ...extra },
});

// The SSE /v1/responses stream of the same request over HTTP: [event objects].
async function sseResponses(input, max_output_tokens) {
  const base = url.replace(/^ws/, 'http').replace('/v1/realtime', '');
  const r = await fetch(`${base}/v1/responses`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, input, max_output_tokens, temperature: 0, stream: true }),
  });
  assert.equal(r.status, 200);
  const text = await r.text();
  return text.split('\n\n').filter((b) => b.includes('data: '))
    .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)));
}

check('a_responses_stream_and_a_chat_stream_share_one_socket_and_one_is_cancelled', async () => {
  const ws = await open(url, { Authorization: `Bearer ${key}` });
  const got = collect(ws, (b) => done(b.r1) && done(b.c1) && done(b.r2));
  ws.send(responses('r1', 'Once upon a time', 30));
  ws.send(chat('c1', 'The cat', 30));
  ws.send(responses('r2', 'A long story', LONG, model, false, { ignore_eos: true }));
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.id === 'r2' && m.type === 'response.output_text.delta' && !ws.cancelSent) {
      ws.cancelSent = true;
      ws.send(JSON.stringify({ type: 'response.cancel', id: 'r2' }));
    }
  });
  const { byId, all } = await got;
  // r1: the Responses events, the same types in the same order as the SSE stream of
  // the same request, the same text, sequence numbers from 0; then response.done
  const events = byId.r1.filter((m) => m.type !== 'response.done');
  const sse = await sseResponses('Once upon a time', 30);
  assert.deepEqual(events.map((m) => m.type), sse.map((m) => m.type));
  events.forEach((m, i) => assert.equal(m.sequence_number, i));
  const deltas = (evs) => evs.filter((m) => m.type === 'response.output_text.delta').map((m) => m.delta).join('');
  assert.ok(deltas(events).length > 0, 'no text');
  assert.equal(deltas(events), deltas(sse));
  const completed = events.find((m) => m.type === 'response.completed');
  assert.equal(completed.response.status, sse.at(-1).response.status);
  assert.equal(completed.response.output[0].content[0].text, deltas(events));
  assert.deepEqual(Object.keys(completed).sort(), [...Object.keys(sse.at(-1)), 'id'].sort());
  assert.equal(done(byId.r1).status, 'completed');
  // the chat streamed beside it
  assert.equal(byId.c1[0].type, 'response.created');
  assert.equal(done(byId.c1).status, 'completed');
  assert.ok(text(byId.c1).length > 0, 'no chat text');
  // r2 was cancelled: cut short, no response.completed
  assert.equal(done(byId.r2).status, 'cancelled');
  assert.ok(!byId.r2.some((m) => m.type === 'response.completed'));
  assert.ok(byId.r2.filter((m) => m.type === 'response.output_text.delta').length < LONG);
  // multiplexed: r1 and c1 interleave
  const at = (id, type) => all.findIndex((m) => m.id === id && m.type === type);
  assert.ok(at('c1', 'response.delta') < at('r1', 'response.done') ||
            at('r1', 'response.output_text.delta') < at('c1', 'response.done'), 'one after the other');
  ws.close();
});

check('a_bad_responses_request_gets_an_error_frame', async () => {
  const ws = await open(url, { Authorization: `Bearer ${key}` });
  const got = collect(ws, (b, all) => all.length >= 2);
  ws.send(JSON.stringify({ type: 'response.create', id: 'b1', response: { model } }));  // no input
  ws.send(JSON.stringify({ type: 'response.create', id: 'b2', response: 'x' }));
  const { byId } = await got;
  assert.equal(byId.b1[0].type, 'error');
  assert.equal(byId.b1[0].error.param, 'input');
  assert.equal(byId.b2[0].error.param, 'response');
  ws.close();
});

check('flooding_responses_past_the_queue_gets_429_frames_with_retry_after', async () => {
  const ws = await open(process.env.BUSY_URL);
  const n = 8;
  const got = collect(ws, (b) => Object.keys(b).length >= n &&
    Object.values(b).every((ms) => done(ms) || ms.some((m) => m.type === 'error')));
  for (let i = 0; i < n; i++) ws.send(responses(`g${i}`, 'a', 300, process.env.BUSY_MODEL));
  const { byId } = await got;
  const errs = Object.values(byId).flatMap((ms) => ms.filter((m) => m.type === 'error'));
  const ok = Object.values(byId).filter((ms) => done(ms)?.status === 'completed');
  assert.ok(errs.length >= 1, 'no request was refused');
  assert.ok(ok.length >= 2, `only ${ok.length} completed`);
  for (const e of errs) {
    assert.equal(e.status, 429);
    assert.equal(e.error.code, 'queue_full');
    assert.ok(e.retry_after >= 1 && e.retry_after <= 59, JSON.stringify(e));
  }
  ws.close();
});

await run();
