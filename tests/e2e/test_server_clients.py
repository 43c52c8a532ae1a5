#!/usr/bin/env python3
"""Replays what real OpenAI clients sent (../shared/clients/captures: the
openai SDK, pi-ai, the Vercel AI SDK, OpenClaw) against lmx serve, with only
the model name and the token limit changed:

- every plain-chat capture (no tools, no json_schema) must get a 200 in
  OpenAI's shape, streamed or not (on stories260K);
- every capture with tools or response_format must get a valid answer: tool
  calls with call_ ids, a known name, arguments that parse and validate
  against the tool's schema, finish_reason tool_calls exactly when there are
  calls; tool_choice "required" must produce a call; json_schema output must
  parse and validate. OpenClaw's 20-50 KB requests (11-12 tools, tool
  history, developer role) run on the 32k-context Qwen-vocabulary model with
  Qwen's chat template.

The client libraries themselves run their drives in test_client_drives.py."""
import glob, hashlib, json, os

from harness import SHARED, main, test
from server_util import MODEL, Server, parse_sse

QWEN = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')

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



def validate(value, schema, path='$'):
    """The JSON Schema subset the captured tools and formats use (type,
    properties, required, additionalProperties, items, enum)."""
    t = schema.get('type')
    types = {'object': dict, 'array': list, 'string': str, 'boolean': bool, 'null': type(None)}
    if t in types:
        assert isinstance(value, types[t]), (path, value, schema)
    elif t == 'integer':
        assert isinstance(value, int) and not isinstance(value, bool), (path, value)
    elif t == 'number':
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (path, value)
    if 'enum' in schema:
        assert value in schema['enum'], (path, value)
    if isinstance(value, dict):
        props = schema.get('properties', {})
        for k in schema.get('required', []):
            assert k in value, (path, k, value)
        for k, v in value.items():
            if k in props:
                validate(v, props[k], f'{path}.{k}')
            else:
                assert schema.get('additionalProperties', True) is not False, (path, k)
    if isinstance(value, list) and isinstance(schema.get('items'), dict):
        for i, v in enumerate(value):
            validate(v, schema['items'], f'{path}[{i}]')


def structured_requests():
    """(name, body) of every distinct captured chat request with tools or a response_format."""
    out, seen = [], set()
    for path in sorted(glob.glob(os.path.join(CAPTURES, '*.jsonl'))):
        for i, line in enumerate(open(path)):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            body = rec.get('body')
            if rec.get('path') != '/v1/chat/completions' or not isinstance(body, dict):
                continue
            rf = (body.get('response_format') or {}).get('type', 'text')
            if not body.get('tools') and rf == 'text':
                continue
            key = hashlib.sha256(json.dumps(dict(body, model=''), sort_keys=True).encode()).hexdigest()
            if key in seen:  # the quirk captures repeat the same requests
                continue
            seen.add(key)
            out.append((f'{os.path.basename(path)}:{i}', body))
    return out


def answer(s, name, body):
    """Sends body; returns (content, tool_calls, finish_reason) of choice 0."""
    if not body.get('stream'):
        st, b, _, _ = s.post('/v1/chat/completions', body, timeout=300)
        assert st == 200, (name, st, b)
        ch = b['choices'][0]
        m = ch['message']
        assert m['role'] == 'assistant', (name, m)
        return m.get('content'), m.get('tool_calls') or [], ch['finish_reason']
    c = s.conn(300)
    c.request('POST', '/v1/chat/completions', body=json.dumps(body), headers={'Content-Type': 'application/json'})
    r = c.getresponse()
    raw = r.read().decode()
    assert r.status == 200, (name, r.status, raw[-500:])
    ev, _ = parse_sse(raw)
    assert ev[-1] == '[DONE]', (name, raw[-300:])
    text, calls, finish = '', {}, None
    for e in ev[:-1]:
        assert 'error' not in e, (name, e)
        for ch in e['choices']:
            d = ch['delta']
            text += d.get('content') or ''
            for tc in d.get('tool_calls') or []:
                if tc['index'] not in calls:  # the first delta of a call carries its id and name
                    assert tc.get('id') and tc.get('function', {}).get('name'), (name, tc)
                    calls[tc['index']] = {'id': tc['id'], 'type': tc.get('type'),
                                          'function': {'name': tc['function']['name'], 'arguments': ''}}
                calls[tc['index']]['function']['arguments'] += tc.get('function', {}).get('arguments') or ''
            finish = ch.get('finish_reason') or finish
    return text, [calls[k] for k in sorted(calls)], finish


def check_answer(name, body, content, calls, finish):
    tools = {t['function']['name']: t['function'].get('parameters') or {} for t in body.get('tools') or []}
    assert finish in ('stop', 'length', 'tool_calls'), (name, finish)
    assert (finish == 'tool_calls') == bool(calls), (name, finish, calls)
    for c in calls:
        assert c['id'].startswith('call_') and c['id'][5:].isalnum(), (name, c)
        assert c['type'] == 'function' and c['function']['name'] in tools, (name, c)
        args = json.loads(c['function']['arguments'])
        validate(args, tools[c['function']['name']])
    if body.get('tool_choice') == 'required':
        assert calls, (name, content)
    rf = body.get('response_format') or {}
    if rf.get('type') == 'json_schema' and finish != 'length':
        validate(json.loads(content), rf['json_schema'].get('schema') or {'type': 'object'})


@test
def captured_tool_and_structured_requests_get_valid_answers():
    reqs = structured_requests()
    small = [(n, b) for n, b in reqs if not n.startswith('openclaw')]
    big = [(n, b) for n, b in reqs if n.startswith('openclaw')]
    assert len(small) >= 8 and len(big) >= 4, (len(small), len(big))
    forced = 0
    for model, path, args, batch in ((MODEL, None, ('-c', 2048), small),
                                     ('qwen2-vocab-q8_0', QWEN, ('-c', 32768), big)):
        with Server('--parallel', 1, '-t', 2, *args, **({'model': path} if path else {})) as s:
            for name, body in batch:
                body = dict(body, model=model)
                limit = 64 if (body.get('response_format') or body.get('tool_choice') == 'required') else 16
                for k in ('max_tokens', 'max_completion_tokens'):
                    body.pop(k, None)
                body['max_tokens'] = limit
                content, calls, finish = answer(s, name, body)
                check_answer(name, body, content, calls, finish)
                forced += body.get('tool_choice') == 'required' or 'response_format' in body
    assert forced >= 3, forced


if __name__ == '__main__':
    main()
