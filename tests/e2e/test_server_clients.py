#!/usr/bin/env python3
"""Replays what real OpenAI clients sent (../shared/clients/captures: the
openai SDK, pi-ai, the Vercel AI SDK, OpenClaw) against lmx serve: every
plain-chat capture (no tools, no json_schema, not the Responses API) must get
a 200 in OpenAI's shape, streamed or not, with only the model name and the
token limit changed. The captured request bodies are sent as they were; the
client libraries themselves run their drives in test_client_drives.py."""
import glob, json, os

from harness import SHARED, main, test
from server_util import MODEL, Server, parse_sse

CAPTURES = os.path.join(SHARED, 'clients', 'captures')


def plain_chat_requests():
    out = []
    for path in sorted(glob.glob(os.path.join(CAPTURES, '*.jsonl'))):
        for i, line in enumerate(open(path)):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            body = rec.get('body')
            if rec.get('method') == 'GET' and rec.get('path') == '/v1/models':
                out.append((f'{os.path.basename(path)}:{i}', 'GET', '/v1/models', None))
            if rec.get('path') != '/v1/chat/completions' or not isinstance(body, dict):
                continue
            if body.get('tools') or body.get('tool_choice') not in (None, 'auto', 'none'):
                continue
            if (body.get('response_format') or {}).get('type', 'text') != 'text':
                continue
            if any(m.get('role') == 'tool' or m.get('tool_calls') for m in body.get('messages', [])):
                continue
            out.append((f'{os.path.basename(path)}:{i}', 'POST', '/v1/chat/completions', body))
    return out


@test
def captured_plain_chat_requests_get_openai_responses():
    reqs = plain_chat_requests()
    assert len(reqs) >= 5, reqs
    posts = 0
    with Server('--parallel', 2, '-c', 1024, '-t', 1) as s:
        for name, method, path, body in reqs:
            if method == 'GET':
                st, b, _, _ = s.request('GET', path)
                assert st == 200 and b['object'] == 'list', (name, b)
                continue
            body = dict(body, model=MODEL)
            for k in ('max_tokens', 'max_completion_tokens'):
                if k in body:
                    body[k] = min(body[k] or 16, 16)
            if 'max_tokens' not in body and 'max_completion_tokens' not in body:
                body['max_tokens'] = 16
            posts += 1
            if body.get('stream'):
                c = s.conn()
                c.request('POST', path, body=json.dumps(body), headers={'Content-Type': 'application/json'})
                r = c.getresponse()
                raw = r.read().decode()
                assert r.status == 200, (name, r.status, raw)
                ev, _ = parse_sse(raw)
                assert ev[-1] == '[DONE]', (name, raw[-300:])
                chunks = ev[:-1]
                assert chunks[0]['choices'][0]['delta']['role'] == 'assistant', (name, chunks[0])
                assert any(ch.get('finish_reason') for c in chunks for ch in c['choices']), name
                if (body.get('stream_options') or {}).get('include_usage'):
                    assert chunks[-1]['choices'] == [] and chunks[-1]['usage']['total_tokens'] > 0, name
            else:
                st, b, _, _ = s.post(path, body)
                assert st == 200, (name, st, b)
                assert b['object'] == 'chat.completion' and b['choices'][0]['message']['role'] == 'assistant'
    assert posts >= 5, posts


if __name__ == '__main__':
    main()
