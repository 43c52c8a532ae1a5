// The overload contract seen by the official openai npm SDK: N chats at once
// against a server with one slot and one queue place; those refused get 429
// with Retry-After, which the SDK's own retry logic (2 retries, honouring
// retry-after) must turn into success. Run by ../test_fleet.py.
// usage: BASE_URL=... MODEL=... N=5 MAX_TOKENS=200 node overload.mjs
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { check, run } from './checks.mjs';

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-local' }); // default retries
const model = process.env.MODEL;
const n = Number(process.env.N || 5);
const maxTokens = Number(process.env.MAX_TOKENS || 200);

check('all_succeeded', async () => {
  const jobs = [];
  for (let i = 0; i < n; i++)
    jobs.push(client.chat.completions.create({
      model, max_tokens: maxTokens, messages: [{ role: 'user', content: `bot ${i}` }],
    }).withResponse());
  const res = await Promise.allSettled(jobs);
  const failed = res.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
  assert.deepEqual(failed, []);
  for (const r of res) assert.ok(r.value.data.choices[0].message.content.length > 0);
});

await run();
