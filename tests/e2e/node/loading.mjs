// A model that is still loading, seen by real clients; run by ../test_model_loading.py.
// - sdk: the official openai SDK's own retry (2 retries, honouring retry-after on
//   503) turns 503 model_loading into success once the load is done.
// - ws: a response.create for a loading model gets an error frame with status 503,
//   code model_loading and retry_after; the socket stays open.
// usage: CHECK=sdk BASE_URL=http://127.0.0.1:P/v1 MODEL=... node loading.mjs
//        CHECK=ws WS_URL=ws://127.0.0.1:P/v1/realtime MODEL=... node loading.mjs
import OpenAI from 'openai';
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const model = process.env.MODEL;
const which = process.env.CHECK;

if (which === 'sdk')
  check('sdk_retry_recovers_from_model_loading', async () => {
    const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local' }); // default retries
    const r = await client.chat.completions.create({
      model, max_tokens: 4, messages: [{ role: 'user', content: 'Once upon a time' }],
    });
    assert.equal(r.model, model);
    assert.ok(r.choices[0].message.content.length > 0);
  });

if (which === 'ws')
  check('ws_gets_a_503_model_loading_frame_and_the_socket_stays_open', async () => {
    const ws = new WebSocket(process.env.WS_URL);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const next = () => new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
    let m = next();
    ws.send(JSON.stringify({ type: 'response.create', id: 'l1',
      request: { model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] } }));
    const e = await m;
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.id, 'l1');
    assert.equal(e.status, 503, JSON.stringify(e));
    assert.equal(e.error.code, 'model_loading', JSON.stringify(e));
    assert.ok(e.retry_after >= 1 && e.retry_after <= 59, JSON.stringify(e));
    // still open: a bad message gets its own error frame
    m = next();
    ws.send(JSON.stringify({ type: 'nonsense', id: 'x' }));
    assert.equal((await m).status, 400);
    ws.close();
  });

await run();
