#!/usr/bin/env python3
"""Anthropic's Messages API (/v1/messages, /v1/messages/count_tokens), end to end.

Plain text on stories260K; tool use on the synthetic Qwen-vocabulary model
with the Qwen3-Coder template, where tool_choice {"type": "tool"} opens the
call in the prompt and logit_bias (an LMX extension) on the end-of-text tokens
ends it at once: the output is one whole call (see test_server_tools.py).
Covered: the message shape and the named-event stream over raw HTTP, request
translation (system, blocks, tool_use / tool_result history), errors in
Anthropic's shape, x-api-key auth, and the official @anthropic-ai/sdk
(node/anthropic.mjs): messages.create, messages.stream, countTokens, a tool_use
round trip with tool_result, the error shape of a bad request."""
import os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, STORIES, main, test
from node_checks import run_driver_all_pass
from server_util import MODEL, Server, gguf_with_template, post_named_stream

QWEN = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
EOS_BIAS = {'151645': 100, '151643': 100}  # <|im_end|>, <|endoftext|>
WEATHER = {'name': 'get_weather', 'description': 'Current weather in a city.',
           'input_schema': {'type': 'object', 'properties': {'location': {'type': 'string'}}}}
TMP = tempfile.mkdtemp(prefix='lmx-anthropic-')
_servers = {}


def server(kind='stories'):
    if kind not in _servers:
        if kind == 'stories':
            _servers[kind] = Server('-c', 512, '-t', 1, '--parallel', 2)
        elif kind == 'think':  # stories260K with QwQ's thinking template
            path = os.path.join(TMP, 'stories-think.gguf')
            gguf_with_template(STORIES, path, open(os.path.join(SHARED, 'templates', 'Qwen-QwQ-32B.jinja')).read())
            _servers[kind] = Server('-c', 512, '-t', 1, model=path)
            _servers[kind].model = 'stories-think'
        elif kind == 'keyed':
            _servers[kind] = Server('-c', 512, '-t', 1, '--api-key', 'sk-ant-local')
        else:
            path = os.path.join(TMP, 'coder.gguf')
            gguf_with_template(QWEN, path, open(os.path.join(SHARED, 'templates', 'Qwen3-Coder.jinja')).read())
            _servers[kind] = Server('-c', 4096, '-t', 1, '--parallel', 2, model=path)
            _servers[kind].model = 'coder'
    return _servers[kind]


def create(s, path='/v1/messages', headers=None, **body):
    body.setdefault('model', getattr(s, 'model', MODEL))
    body.setdefault('messages', [{'role': 'user', 'content': 'Once upon a time'}])
    if path == '/v1/messages':
        body.setdefault('max_tokens', 8)
    return s.post(path, body, headers=headers)


def stream(s, **body):
    body.setdefault('model', getattr(s, 'model', MODEL))
    body.setdefault('messages', [{'role': 'user', 'content': 'Once upon a time'}])
    body.setdefault('max_tokens', 8)
    body['stream'] = True
    events, raw = post_named_stream(s, '/v1/messages', body)
    return [d for _, d in events], raw


def check_message(m):
    assert m['type'] == 'message' and m['role'] == 'assistant' and m['id'].startswith('msg_'), m
    assert m['stop_reason'] in ('end_turn', 'max_tokens', 'stop_sequence', 'tool_use'), m
    assert (m['stop_sequence'] is not None) == (m['stop_reason'] == 'stop_sequence'), m
    u = m['usage']
    assert u['input_tokens'] + u['cache_read_input_tokens'] > 0 and u['output_tokens'] >= 0, u
    # the Message object's nullable fields, as Anthropic's API returns them
    assert m['container'] is None and m['stop_details'] is None, m
    assert u['cache_creation_input_tokens'] == 0 and u['cache_creation'] is None, u
    assert u['server_tool_use'] is None and u['service_tier'] == 'standard', u
    for b in m['content']:
        assert b['type'] in ('text', 'tool_use'), b
        if b['type'] == 'tool_use':
            assert b['id'].startswith('toolu_') and isinstance(b['input'], dict), b
            assert b['caller'] == {'type': 'direct'}, b
        else:
            assert 'citations' in b and b['citations'] is None, b
    return m


def check_error(st, b, status, etype, needle):
    assert st == status, (st, b)
    assert b['type'] == 'error' and b['error']['type'] == etype, b
    assert needle in b['error']['message'], b
    assert b['request_id'].startswith('req_') and len(b['request_id']) > 8, b


@test
def message_has_anthropics_shape():
    s = server()
    st, m, _, _ = create(s, temperature=0, top_k=40, top_p=0.9, metadata={'user_id': 'u1'}, system='You tell stories.')
    assert st == 200, m
    check_message(m)
    assert m['model'] == MODEL and [b['type'] for b in m['content']] == ['text'] and m['content'][0]['text']
    assert m['usage']['output_tokens'] <= 8
    if m['stop_reason'] == 'max_tokens':
        assert m['usage']['output_tokens'] == 8
    # system as text blocks, content as blocks, a multi-turn history
    st, m2, _, _ = create(s, temperature=0, system=[{'type': 'text', 'text': 'You tell stories.'}],
                          messages=[{'role': 'user', 'content': [{'type': 'text', 'text': 'Once upon a time'}]}])
    assert st == 200 and m2['content'] == m['content'], (m2, m)
    st, m3, _, _ = create(s, messages=[{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello.'},
                                       {'role': 'user', 'content': 'Tell me a story.'}])
    assert st == 200, m3
    check_message(m3)
    # stop_sequences reach the sampler, and the one that matched is named
    full = m['content'][0]['text']
    st, m4, _, _ = create(s, temperature=0, system='You tell stories.', stop_sequences=['', 'zzz', full[3:5]])
    assert st == 200 and m4['content'][0]['text'] == full[:3], (full, m4)
    assert m4['stop_reason'] == 'stop_sequence' and m4['stop_sequence'] == full[3:5], m4
    events, _ = stream(s, temperature=0, system='You tell stories.', stop_sequences=['', 'zzz', full[3:5]])
    assert events[-2]['delta'] == {'stop_reason': 'stop_sequence', 'stop_sequence': full[3:5]}, events[-2]


@test
def stream_sends_named_events():
    s = server()
    events, raw = stream(s, temperature=0)
    types = [e['type'] for e in events]
    assert types[:3] == ['message_start', 'ping', 'content_block_start'], types
    assert types[-3:] == ['content_block_stop', 'message_delta', 'message_stop'], types
    assert set(types[3:-3]) == {'content_block_delta'}, types
    start = events[0]['message']
    assert start['content'] == [] and start['stop_reason'] is None and start['model'] == MODEL, start
    assert start['container'] is None and start['stop_details'] is None and start['usage']['server_tool_use'] is None, start
    assert events[2]['content_block'] == {'type': 'text', 'text': '', 'citations': None}, events[2]
    text = ''.join(e['delta']['text'] for e in events if e['type'] == 'content_block_delta')
    assert all(e['delta']['type'] == 'text_delta' and e['index'] == 0 for e in events if e['type'] == 'content_block_delta')
    md = events[-2]
    assert md['delta']['stop_reason'] in ('end_turn', 'max_tokens') and md['usage']['output_tokens'] > 0, md
    assert '[DONE]' not in raw
    _, m, _, _ = create(s, temperature=0)
    assert m['content'][0]['text'] == text


@test
def count_tokens_matches_the_prompt():
    s = server()
    st, c, _, _ = create(s, '/v1/messages/count_tokens', system='You tell stories.')
    assert st == 200 and set(c) == {'input_tokens'} and c['input_tokens'] > 3, c
    _, m, _, _ = create(s, system='You tell stories.')
    assert m['usage']['input_tokens'] + m['usage']['cache_read_input_tokens'] == c['input_tokens'], (m, c)


@test
def errors_use_anthropics_shape():
    s = server()
    st, b, _, _ = s.post('/v1/messages', {'model': MODEL, 'messages': [{'role': 'user', 'content': 'Hi'}]})
    check_error(st, b, 400, 'invalid_request_error', 'max_tokens')
    cases = [
        (dict(frobnicate=1), 'frobnicate'),
        (dict(messages=[{'role': 'system', 'content': 'x'}]), 'messages.0.role'),
        (dict(messages=[{'role': 'user', 'content': [{'type': 'image', 'source': {}}]}]), 'messages.0.content.0'),
        (dict(messages=[{'role': 'user', 'content': [{'type': 'tool_use', 'id': 'x', 'name': 'f', 'input': {}}]}]),
         'messages.0.content.0'),
        (dict(messages=[{'role': 'user', 'content': [{'type': 'tool_result'}]}]), 'messages.0.content.0'),
        (dict(messages='hi'), 'messages'),
        (dict(tools=[{'type': 'web_search_20250305', 'name': 'web_search'}]), 'tools.0'),
        (dict(tools=[{'name': 'f'}]), 'tools.0'),
        (dict(tools=[WEATHER], tool_choice={'type': 'sometimes'}), 'tool_choice'),
        (dict(tools=[WEATHER], tool_choice={'type': 'tool', 'name': 'nope'}), 'tool_choice'),
        (dict(temperature='hot'), 'temperature'),
        (dict(max_tokens=0), 'max_tokens'),
        (dict(stop_sequences='x'), 'stop_sequences'),
    ]
    for body, field in cases:
        st, b, _, _ = create(s, **body)
        check_error(st, b, 400, 'invalid_request_error', field)
    st, b, _, _ = create(s, model='nope')
    check_error(st, b, 404, 'not_found_error', 'nope')
    st, b, _, _ = s.request('GET', '/v1/messages')
    check_error(st, b, 405, 'invalid_request_error', '')
    st, b, _, _ = s.post('/v1/messages', None, raw='{not json')
    check_error(st, b, 400, 'invalid_request_error', '')
    # accepted and ignored
    st, b, _, _ = create(s, thinking={'type': 'enabled', 'budget_tokens': 1024}, service_tier='auto')
    assert st == 200, b
    st, b, _, _ = create(s, thinking={'type': 'maybe'})
    check_error(st, b, 400, 'invalid_request_error', 'thinking.type')


@test
def x_api_key_authenticates():
    s = server('keyed')
    st, b, _, _ = create(s)
    check_error(st, b, 401, 'authentication_error', '')
    st, b, _, _ = create(s, headers={'x-api-key': 'sk-ant-local', 'anthropic-version': '2023-06-01'})
    assert st == 200, b


@test
def tool_use_and_tool_result_over_http():
    s = server('coder')
    body = dict(messages=[{'role': 'user', 'content': 'What is the weather in Paris?'}], tools=[WEATHER],
                tool_choice={'type': 'tool', 'name': 'get_weather'}, logit_bias=EOS_BIAS, temperature=0)
    st, m, _, _ = create(s, **body)
    assert st == 200, m
    check_message(m)
    assert m['stop_reason'] == 'tool_use' and len(m['content']) == 1, m
    tu = m['content'][0]
    assert tu['type'] == 'tool_use' and tu['name'] == 'get_weather' and tu['input'] == {}, tu
    assert len(tu['id']) == 30 and tu['id'][6:].isalnum(), tu
    # any = required: the Qwen3-Coder opening alone is not a call of a named function,
    # so the text comes back as content; the request is accepted either way
    st, m2, _, _ = create(s, **dict(body, tool_choice={'type': 'any', 'disable_parallel_tool_use': True}))
    assert st == 200, m2
    check_message(m2)
    # history: the call and its result (string content, and text blocks with is_error)
    hist = [body['messages'][0], {'role': 'assistant', 'content': [{'type': 'text', 'text': 'Let me check.'}, tu]},
            {'role': 'user', 'content': [{'type': 'tool_result', 'tool_use_id': tu['id'], 'content': '21 C'}]}]
    st, m3, _, _ = create(s, messages=hist, tools=[WEATHER], logit_bias=EOS_BIAS)
    assert st == 200, m3
    hist[2]['content'][0] = {'type': 'tool_result', 'tool_use_id': tu['id'], 'is_error': True,
                             'content': [{'type': 'text', 'text': 'city not found'}]}
    st, m4, _, _ = create(s, messages=hist, tools=[WEATHER], logit_bias=EOS_BIAS)
    assert st == 200, m4
    used = lambda m: m['usage']['input_tokens'] + m['usage']['cache_read_input_tokens']
    assert used(m3) > used(m) + 10 and used(m4) > used(m3), (m['usage'], m3['usage'], m4['usage'])
    # tools reach the prompt, tool_choice none hides them
    st, c1, _, _ = create(s, '/v1/messages/count_tokens', messages=body['messages'], tools=[WEATHER])
    st, c2, _, _ = create(s, '/v1/messages/count_tokens', messages=body['messages'], tools=[WEATHER],
                          tool_choice={'type': 'none'})
    assert c1['input_tokens'] > c2['input_tokens'] + 20, (c1, c2)
    # streamed: one tool_use block with its input as one input_json_delta, no raw markup
    events, raw = stream(s, **body)
    types = [e['type'] for e in events]
    assert types == ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_stop',
                     'message_delta', 'message_stop'], types
    cb = events[2]['content_block']
    assert cb['type'] == 'tool_use' and cb['name'] == 'get_weather' and cb['input'] == {}, cb
    assert cb['caller'] == {'type': 'direct'}, cb
    assert events[3]['delta'] == {'type': 'input_json_delta', 'partial_json': '{}'}, events[3]
    assert events[5]['delta']['stop_reason'] == 'tool_use'
    assert '<tool_call>' not in raw and '<function=' not in raw


@test
def thoughts_become_thinking_blocks():
    # QwQ's template opens <think> when thinking is enabled; a tiny model never closes
    # it, so the whole output is the thought
    s = server('think')
    body = dict(max_tokens=10, temperature=0, logit_bias={'2': -100},
                messages=[{'role': 'user', 'content': 'Tell me a story'}])
    _, plain, _, _ = create(s, **body)
    assert [b['type'] for b in plain['content']] == ['text'], plain
    st, m, _, _ = create(s, thinking={'type': 'enabled', 'budget_tokens': 1024}, **body)
    assert st == 200, m
    assert [b['type'] for b in m['content']] == ['thinking'], m
    assert m['content'][0]['thinking'] and m['content'][0]['signature'] == '', m
    events, _ = stream(s, thinking={'type': 'enabled', 'budget_tokens': 1024}, **body)
    assert events[2]['content_block'] == {'type': 'thinking', 'thinking': '', 'signature': ''}, events[2]
    deltas = [e['delta'] for e in events if e['type'] == 'content_block_delta']
    assert all(d['type'] == 'thinking_delta' for d in deltas), deltas
    assert ''.join(d['thinking'] for d in deltas) == m['content'][0]['thinking']
    # thinking blocks given back in the history are accepted (and not shown to the model)
    st, m2, _, _ = create(s, max_tokens=4, messages=body['messages'] + [
        {'role': 'assistant', 'content': m['content'] + [{'type': 'text', 'text': 'Once.'}]},
        {'role': 'user', 'content': 'More'}])
    assert st == 200, m2


@test
def anthropic_sdk_drives_the_server():
    s, t = server(), server('coder')
    env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}', MODEL=MODEL,
               TOOL_BASE_URL=f'http://127.0.0.1:{t.port}', TOOL_MODEL=t.model)
    run_driver_all_pass('anthropic.mjs', env, 6, timeout=180)


if __name__ == '__main__':
    try:
        main()
    finally:
        for s in _servers.values():
            s.stop()
        shutil.rmtree(TMP, ignore_errors=True)
