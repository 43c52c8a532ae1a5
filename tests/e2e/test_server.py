#!/usr/bin/env python3
"""lmx serve over plain HTTP: OpenAI's shapes, streaming, sampling controls,
concurrency, cancellation, errors, limits, the field policy table, templates,
queue-full and SIGTERM drain."""
import http.client, json, os, re, signal, socket, tempfile, threading, time

from harness import ROOT, STORIES, main, test
from harness import lmx as lmx_cli
from server_util import MODEL, Server, gguf_with_template, parse_sse, stream_text

NO_EOS = {'2': -100}  # stories260K's </s>: keeps generating up to max_tokens
_S = None


def S():
    """The shared server: 4 sequences at once, a 256-token context, 64 KiB bodies."""
    global _S
    if _S is None:
        _S = Server('--parallel', 4, '-c', 256, '--max-body', 65536, '-t', 1)
    return _S


def ok(status, body, want=200):
    assert status == want, (status, body)
    return body


def check_error(status, body, want_status, param=None, code=None, contains=None):
    assert status == want_status, (status, body)
    e = body['error']
    assert set(e) == {'message', 'type', 'param', 'code'}, e
    assert isinstance(e['message'], str) and e['message'], e
    if param is not None:
        assert e['param'] == param, e
    if code is not None:
        assert e['code'] == code, e
    if contains:
        assert contains in e['message'], e
    return e


def texts(body):
    return [c['message']['content'] for c in body['choices']]


@test
def starts_in_well_under_a_second_without_a_model():
    with Server(model=None) as s:
        assert s.startup_s < 1.0, s.startup_s
        st, body, _, _ = s.request('GET', '/v1/models')
        assert ok(st, body) == {'object': 'list', 'data': []}
        st, body, _, _ = s.chat()
        check_error(st, body, 404, 'model', 'model_not_found', 'no model is loaded')
        st, body, _, _ = s.request('GET', '/health')
        assert ok(st, body)['status'] == 'ok'
        assert s.stop() == 0


@test
def models_list_and_model_details():
    st, body, r, _ = S().request('GET', '/v1/models')
    ok(st, body)
    assert body['object'] == 'list' and [m['id'] for m in body['data']] == [MODEL]
    assert r.getheader('Access-Control-Allow-Origin') == '*'
    st, m, _, _ = S().request('GET', f'/v1/models/{MODEL}')
    ok(st, m)
    assert m['object'] == 'model' and m['id'] == MODEL and isinstance(m['created'], int)
    assert m['context_length'] == 256 and m['architecture'] == 'llama'
    assert m['quantization'] == 'f32' and m['parameters'] > 200000
    assert m['supports_tools'] is False
    st, body, _, _ = S().request('GET', '/v1/models/nope')
    check_error(st, body, 404, 'model', 'model_not_found', f"'{MODEL}'")


@test
def chat_completion_has_openais_shape():
    st, b, _, _ = S().chat(max_tokens=8, temperature=0)
    ok(st, b)
    assert re.fullmatch(r'chatcmpl-[A-Za-z0-9]{24}', b['id']), b['id']
    assert b['object'] == 'chat.completion' and b['model'] == MODEL
    assert isinstance(b['created'], int) and abs(b['created'] - time.time()) < 60
    assert isinstance(b['system_fingerprint'], str)
    (c,) = b['choices']
    assert c['index'] == 0 and c['message']['role'] == 'assistant'
    assert isinstance(c['message']['content'], str) and c['logprobs'] is None
    assert c['finish_reason'] in ('stop', 'length')
    u = b['usage']
    assert u['total_tokens'] == u['prompt_tokens'] + u['completion_tokens'] and u['prompt_tokens'] > 0
    assert u['prompt_tokens_details']['cached_tokens'] >= 0


@test
def streaming_with_include_usage_matches_the_plain_response():
    body = dict(model=MODEL, messages=[{'role': 'user', 'content': 'Tell me a story'}], max_tokens=12,
                temperature=0, logit_bias=NO_EOS)
    st, plain, _, _ = S().post('/v1/chat/completions', body)
    ok(st, plain)
    ev, _, raw = S().stream('/v1/chat/completions', {**body, 'stream_options': {'include_usage': True}})
    assert ev[-1] == '[DONE]' and raw.endswith('data: [DONE]\n\n')
    chunks = ev[:-1]
    assert all(c['object'] == 'chat.completion.chunk' and 'usage' in c for c in chunks)
    assert len({c['id'] for c in chunks}) == 1 and chunks[0]['id'].startswith('chatcmpl-')
    assert chunks[0]['choices'][0]['delta']['role'] == 'assistant'
    assert all(c['usage'] is None for c in chunks[:-1])
    assert chunks[-1]['choices'] == [] and chunks[-1]['usage'] == plain['usage'] | {
        'prompt_tokens_details': chunks[-1]['usage']['prompt_tokens_details']}
    assert chunks[-2]['choices'][0]['finish_reason'] == 'length'
    t, f = stream_text(ev)
    assert t == texts(plain) and f == ['length']
    # without include_usage: no usage key at all
    ev, _, _ = S().stream('/v1/chat/completions', body)
    assert all('usage' not in c for c in ev[:-1])


@test
def n_choices_use_seed_plus_i():
    base = dict(temperature=1.0, max_tokens=16, logit_bias=NO_EOS)
    st, b, _, _ = S().chat(n=3, seed=5, **base)
    ok(st, b)
    assert [c['index'] for c in b['choices']] == [0, 1, 2]
    assert b['usage']['completion_tokens'] == 48
    for i in range(3):
        st, one, _, _ = S().chat(n=1, seed=5 + i, **base)
        assert texts(one)[0] == texts(b)[i], (i, texts(one), texts(b))
    ev, _, _ = S().stream('/v1/chat/completions', dict(model=MODEL, messages=[
        {'role': 'user', 'content': 'Once upon a time'}], n=3, seed=5, **base))
    t, f = stream_text(ev, 3)
    assert t == texts(b) and f == ['length'] * 3


@test
def logprobs_with_top_logprobs():
    st, b, _, _ = S().chat(max_tokens=6, temperature=0, logprobs=True, top_logprobs=3, logit_bias=NO_EOS)
    ok(st, b)
    content = b['choices'][0]['logprobs']['content']
    assert len(content) == 6 == b['usage']['completion_tokens']
    assert ''.join(e['token'] for e in content) == texts(b)[0]
    for e in content:
        assert set(e) == {'token', 'logprob', 'bytes', 'top_logprobs'}, e
        assert e['logprob'] <= 0 and bytes(e['bytes']).decode('utf-8', 'replace') == e['token']
        tops = e['top_logprobs']
        assert len(tops) == 3 and all(set(t) == {'token', 'logprob', 'bytes'} for t in tops)
        assert tops[0]['logprob'] >= tops[1]['logprob'] >= tops[2]['logprob']
        assert tops[0]['token'] == e['token'] and abs(tops[0]['logprob'] - e['logprob']) < 1e-6
    ev, _, _ = S().stream('/v1/chat/completions', dict(model=MODEL, messages=[
        {'role': 'user', 'content': 'Once upon a time'}], max_tokens=6, temperature=0,
        logprobs=True, top_logprobs=3, logit_bias=NO_EOS))
    streamed = [x for c in ev[:-1] for ch in c['choices'] if ch.get('logprobs')
                for x in ch['logprobs']['content']]
    assert [x['token'] for x in streamed] == [x['token'] for x in content]


@test
def stop_sequences_end_the_text_before_them():
    st, b, _, _ = S().chat(max_tokens=30, temperature=0, logit_bias=NO_EOS)
    full = texts(ok(st, b))[0]
    assert len(full) > 12, full
    stop = full[6:10]
    i = full.index(stop)
    for s in (stop, [stop, 'zzzz-never']):
        st, b, _, _ = S().chat(max_tokens=30, temperature=0, logit_bias=NO_EOS, stop=s)
        ok(st, b)
        assert texts(b)[0] == full[:i] and b['choices'][0]['finish_reason'] == 'stop', (texts(b), full, stop)
    ev, _, _ = S().stream('/v1/chat/completions', dict(model=MODEL, messages=[
        {'role': 'user', 'content': 'Once upon a time'}], max_tokens=30, temperature=0,
        logit_bias=NO_EOS, stop=stop))
    t, f = stream_text(ev)
    assert t == [full[:i]] and f == ['stop']


@test
def max_tokens_gives_finish_reason_length():
    for field in ('max_tokens', 'max_completion_tokens'):
        st, b, _, _ = S().chat(**{field: 7}, logit_bias=NO_EOS)
        ok(st, b)
        assert b['choices'][0]['finish_reason'] == 'length' and b['usage']['completion_tokens'] == 7


@test
def seed_determinism():
    kw = dict(temperature=1.0, max_tokens=40, logit_bias=NO_EOS)
    a = texts(S().chat(seed=11, **kw)[1])
    b = texts(S().chat(seed=11, **kw)[1])
    c = texts(S().chat(seed=12, **kw)[1])
    assert a == b and a != c


def solo_and_concurrent(s, bodies):
    solo = []
    for b in bodies:
        ev, _, _ = s.stream('/v1/chat/completions', b)
        solo.append(stream_text(ev)[0][0])
    out = [None] * len(bodies)

    def run(i):
        ev, _, _ = s.stream('/v1/chat/completions', bodies[i])
        out[i] = stream_text(ev)[0][0]

    th = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    return solo, out


@test
def twelve_concurrent_streams_each_give_their_solo_text():
    prompts = ['Once upon a time', 'The cat', 'Lily went to the park', 'A big dog', 'Tom had a ball',
               'The sun was hot']
    bodies = []
    for i in range(12):
        b = dict(model=MODEL, messages=[{'role': 'user', 'content': prompts[i % 6]}],
                 max_tokens=20 + i, logit_bias=NO_EOS)
        b.update(temperature=0) if i % 2 == 0 else b.update(temperature=1.0, seed=100 + i)
        bodies.append(b)
    solo, conc = solo_and_concurrent(S(), bodies)
    assert solo == conc, [(i, a, b) for i, (a, b) in enumerate(zip(solo, conc)) if a != b]


@test
def aborted_stream_frees_its_slot():
    with Server('--parallel', 1, '-c', 2048, '-t', 1) as s:
        c = s.conn()
        c.request('POST', '/v1/chat/completions', body=json.dumps(dict(
            model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], stream=True,
            max_tokens=2000, logit_bias=NO_EOS)), headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        assert r.status == 200
        r.readline()  # the first event has started
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        t0 = time.time()
        st, b, _, _ = s.chat(max_tokens=4, logit_bias=NO_EOS)
        ok(st, b)
        assert time.time() - t0 < 5, time.time() - t0
        # a non-streamed request cancelled by hang-up during generation
        c = s.conn()
        c.request('POST', '/v1/completions', body=json.dumps(dict(
            model=MODEL, prompt='hi', max_tokens=2000, logit_bias=NO_EOS)),
            headers={'Content-Type': 'application/json'})
        time.sleep(0.1)
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        t0 = time.time()
        st, b, _, _ = s.chat(max_tokens=4)
        ok(st, b)
        assert time.time() - t0 < 5, time.time() - t0
        time.sleep(0.2)
        lines = [json.loads(l) for l in s.logs().splitlines() if l.startswith('{')]
        statuses = [l['status'] for l in lines if l.get('msg') == 'request']
        assert statuses.count(499) == 2, statuses


@test
def malformed_and_wrong_requests_get_openai_errors():
    s = S()
    st, b, _, _ = s.post('/v1/chat/completions', None, raw='{"model": ')
    check_error(st, b, 400, contains='parse the JSON body')
    st, b, _, _ = s.post('/v1/chat/completions', None, raw='[1, 2]')
    check_error(st, b, 400, contains='JSON object')
    msgs = [{'role': 'user', 'content': 'hi'}]
    cases = [
        (dict(temperature='hot'), 'temperature', 'expected a number'),
        (dict(temperature=3), 'temperature', 'between'),
        (dict(n=0), 'n', None),
        (dict(n=1.5), 'n', 'integer'),
        (dict(max_tokens='10'), 'max_tokens', 'integer'),
        (dict(stop=5), 'stop', None),
        (dict(stop=['a', 3]), 'stop[1]', None),
        (dict(logit_bias={'x': 1}), 'logit_bias', 'token ids'),
        (dict(logit_bias={'5': 500}), 'logit_bias', None),
        (dict(logit_bias={'99999': 1}), 'logit_bias', 'vocabulary'),
        (dict(top_logprobs=2), 'top_logprobs', 'logprobs'),
        (dict(logprobs=True, top_logprobs=21), 'top_logprobs', None),
        (dict(stream='yes'), 'stream', 'boolean'),
        (dict(response_format={'type': 'json_yaml'}), 'response_format.type', None),
        (dict(response_format={'type': 'json_schema', 'json_schema': {'name': 'x', 'schema': {'not': {}}}}),
         'response_format.json_schema.schema', "unsupported JSON Schema keyword 'not'"),
        (dict(tool_choice='required'), 'tool_choice', None),
        (dict(messages='hi'), 'messages', 'array'),
        (dict(messages=[]), 'messages', None),
        (dict(messages=[{'content': 'x'}]), 'messages[0].role', None),
        (dict(messages=[{'role': 'wizard', 'content': 'x'}]), 'messages[0].role', 'wizard'),
        (dict(messages=[{'role': 'user', 'content': 5}]), 'messages[0].content', None),
        (dict(messages=[{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'data:x'}}]}]),
         'messages[0].content[0]', 'Image inputs are not supported'),
        (dict(frobnicate=1), 'frobnicate', 'Unrecognized request argument'),
        (dict(functions=[]), 'functions', 'tools'),
        (dict(model=7), 'model', None),
        (dict(n=9), 'n', '--parallel'),
    ]
    for extra, param, contains in cases:
        body = {'model': MODEL, 'messages': msgs, **extra}
        st, b, _, _ = s.post('/v1/chat/completions', body)
        check_error(st, b, 400, param, contains=contains)
    st, b, _, _ = s.post('/v1/chat/completions', {'messages': msgs})
    check_error(st, b, 400, 'model')
    st, b, _, _ = s.post('/v1/chat/completions', {'model': 'gpt-9', 'messages': msgs})
    check_error(st, b, 404, 'model', 'model_not_found', f"Loaded models: '{MODEL}'")
    st, b, _, _ = s.post('/v1/completions', {'model': MODEL, 'prompt': 'a', 'suffix': 'b'})
    check_error(st, b, 400, 'suffix')
    for p, param in ((5, 'prompt'), ([], 'prompt'), (['a', 1], 'prompt[1]'), ([[1, 'x']], 'prompt[0][1]'),
                     ([[]], 'prompt[0]'), ([-1], 'prompt[0]')):
        st, b, _, _ = s.post('/v1/completions', {'model': MODEL, 'prompt': p})
        check_error(st, b, 400, param)
    st, b, _, _ = s.post('/v1/completions', {'model': MODEL, 'prompt': 'a', 'logprobs': True})
    check_error(st, b, 400, 'logprobs')
    st, b, r, _ = s.request('GET', '/v1/chat/completions')
    check_error(st, b, 405)
    assert 'POST' in r.getheader('Allow')
    st, b, _, _ = s.request('POST', '/v1/nothing', {})
    check_error(st, b, 404, code='unknown_url')
    st, b, _, _ = s.post('/v1/chat/completions', None, raw='{"model":"x","pad":"' + 'a' * 70000 + '"}')
    check_error(st, b, 413, code='request_too_large')


def field_table():
    rows = []
    for line in open(os.path.join(ROOT, 'docs', 'openai-fields.md')):
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 5 and cells[2] in ('supported', 'ignored', 'refused'):
            rows.append((cells[0], cells[1], cells[2], json.loads(cells[3])))
    return rows


@test
def field_table_matches_the_server():
    rows = field_table()
    assert len(rows) > 30
    base = {'chat': {'model': MODEL, 'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 2},
            'completions': {'model': MODEL, 'prompt': 'hi', 'max_tokens': 2}}
    for field, where, policy, example in rows:
        for ep in (('chat', 'completions') if where == 'both' else (where,)):
            body = dict(base[ep])
            body[field] = example
            if field == 'top_logprobs':
                body['logprobs'] = True
            if field == 'logprobs' and ep == 'completions':
                body['logprobs'] = 2
            if field == 'tool_choice':
                body['tools'] = []
            st, b, _, _ = S().post('/v1/chat/completions' if ep == 'chat' else '/v1/completions', body)
            if policy == 'refused':
                check_error(st, b, 400, field)
            else:
                assert st == 200, (field, ep, policy, b)


@test
def completions_prompt_forms_echo_and_logprobs():
    s = S()
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt='Once', max_tokens=5, temperature=0,
                                                  logit_bias=NO_EOS))
    ok(st, b)
    assert re.fullmatch(r'cmpl-[A-Za-z0-9]{24}', b['id']) and b['object'] == 'text_completion'
    (c,) = b['choices']
    assert set(c) == {'text', 'index', 'logprobs', 'finish_reason'} and c['finish_reason'] == 'length'
    one = c['text']
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=['Once', 'Once'], n=2, max_tokens=5,
                                                  temperature=0, logit_bias=NO_EOS))
    ok(st, b)
    assert [c['index'] for c in b['choices']] == [0, 1, 2, 3] and all(c['text'] == one for c in b['choices'])
    assert b['usage']['completion_tokens'] == 20
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt='Once', max_tokens=5, temperature=0,
                                                  echo=True, logit_bias=NO_EOS))
    assert ok(st, b)['choices'][0]['text'] == 'Once' + one
    ids = json.loads(lmx_cli('tokenize', '-m', STORIES, 'Once upon a time').stdout)
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=ids, max_tokens=3, temperature=0, echo=True))
    assert ok(st, b)['choices'][0]['text'].lstrip().startswith('Once upon a time'), b
    assert b['usage']['prompt_tokens'] == len(ids)
    for p in ([1, 400, 401], [[1, 400, 401], [1, 402]]):
        st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=p, max_tokens=3, temperature=0))
        ok(st, b)
        assert len(b['choices']) == (2 if isinstance(p[0], list) else 1)
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt='Once', max_tokens=4, temperature=0,
                                                  logprobs=2, logit_bias=NO_EOS))
    lp = ok(st, b)['choices'][0]['logprobs']
    assert set(lp) == {'tokens', 'token_logprobs', 'top_logprobs', 'text_offset'}
    assert len(lp['tokens']) == 4 and all(len(t) == 2 for t in lp['top_logprobs'])
    ev, _, _ = s.stream('/v1/completions', dict(model=MODEL, prompt='Once', max_tokens=5, temperature=0,
                                                 logit_bias=NO_EOS, stream_options={'include_usage': True}))
    assert ev[-1] == '[DONE]' and ev[-2]['usage']['completion_tokens'] == 5
    t, f = stream_text(ev)
    assert t == [one] and f == ['length']


@test
def second_turn_reuses_the_cached_prefix():
    s = S()
    # token-id prompts: independent of the tokenizer
    ids = [1] + list(range(300, 360))
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=ids, max_tokens=2, temperature=0))
    ok(st, b)
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=ids + [400, 401], max_tokens=2,
                                                  temperature=0))
    assert ok(st, b)['usage']['prompt_tokens_details']['cached_tokens'] >= len(ids), b['usage']
    # a chat's second turn
    msgs = [{'role': 'system', 'content': 'You tell stories.'}, {'role': 'user', 'content': 'Tell me one.'}]
    st, b, _, _ = s.chat(messages=msgs, max_tokens=10, temperature=0)
    ok(st, b)
    msgs += [{'role': 'assistant', 'content': texts(b)[0]}, {'role': 'user', 'content': 'Another.'}]
    st, b2, _, _ = s.chat(messages=msgs, max_tokens=10, temperature=0)
    ok(st, b2)
    assert b2['usage']['prompt_tokens_details']['cached_tokens'] > b['usage']['prompt_tokens'] // 2, (
        b['usage'], b2['usage'])


@test
def context_length_exceeded():
    s = S()
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=[1] * 300))
    e = check_error(st, b, 400, 'prompt', 'context_length_exceeded')
    assert '256' in e['message'] and '300' in e['message'], e
    st, b, _, _ = s.chat(max_tokens=1000)
    e = check_error(st, b, 400, 'messages', 'context_length_exceeded')
    assert '256' in e['message'] and '1000' in e['message'], e
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=[1] * 200, max_tokens=100))
    check_error(st, b, 400, 'prompt', 'context_length_exceeded')
    # max_tokens absent: the rest of the context
    st, b, _, _ = s.post('/v1/completions', dict(model=MODEL, prompt=[1] * 250, logit_bias=NO_EOS))
    assert ok(st, b)['usage']['completion_tokens'] == 6 and b['choices'][0]['finish_reason'] == 'length'


@test
def chat_roles_developer_names_and_reasoning_are_accepted():
    msgs = [{'role': 'developer', 'content': 'Be brief.'},
            {'role': 'user', 'content': 'Hi', 'name': 'bob'},
            {'role': 'user', 'content': [{'type': 'text', 'text': 'Tell'}, {'type': 'text', 'text': 'a story'}]},
            {'role': 'assistant', 'content': 'Sure.', 'reasoning_content': 'thinking', 'refusal': None},
            {'role': 'assistant', 'content': None, 'tool_calls': [{'id': 'c1', 'type': 'function', 'function': {
                'name': 'f', 'arguments': '{"a": 1}'}}]},
            {'role': 'tool', 'tool_call_id': 'c1', 'content': 'done'},
            {'role': 'user', 'content': 'Go on'}]
    st, b, _, _ = S().chat(messages=msgs, max_tokens=3, store=False, metadata={'a': 'b'})
    ok(st, b)


@test
def chat_templates_merge_system_and_same_role_turns_or_report_their_raise():
    tmpl = ("{{ bos_token }}{% for m in messages %}"
            "{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
            "{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
            "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            "{% if 'forbidden' in m.content %}{{ raise_exception('forbidden word in ' + m.role + ' turn') }}{% endif %}"
            "<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'strict-tmpl.gguf')
        gguf_with_template(STORIES, path, tmpl)
        with Server('-t', 1, model=path) as s:
            msgs = [{'role': 'developer', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'},
                    {'role': 'user', 'content': 'Tell a story'}]
            st, b, _, _ = s.post('/v1/chat/completions', dict(model='strict-tmpl', messages=msgs, max_tokens=3))
            ok(st, b)
            st, b, _, _ = s.post('/v1/chat/completions', dict(model='strict-tmpl', max_tokens=3, messages=[
                {'role': 'user', 'content': 'a forbidden thing'}]))
            check_error(st, b, 400, 'messages', contains='forbidden word in user turn')
            st, m, _, _ = s.request('GET', '/v1/models/strict-tmpl')
            assert ok(st, m)['default_chat_template'] is False


@test
def bos_is_not_doubled_when_the_template_emits_it():
    want = len(json.loads(lmx_cli('tokenize', '-m', STORIES, 'Hello there').stdout))  # with BOS
    with tempfile.TemporaryDirectory() as d:
        for tmpl, n in (('{{ bos_token }}{{ messages[0].content }}', want),
                        ('{{ messages[0].content }}', want)):  # no BOS in the template: added once
            path = os.path.join(d, 'bos.gguf')
            gguf_with_template(STORIES, path, tmpl)
            with Server('-t', 1, model=path) as s:
                st, b, _, _ = s.post('/v1/chat/completions', dict(
                    model='bos', messages=[{'role': 'user', 'content': 'Hello there'}], max_tokens=1))
                assert ok(st, b)['usage']['prompt_tokens'] == n, (tmpl, b['usage'], n)


@test
def real_chat_templates_take_agent_style_conversations():
    """Every template in ../shared/templates renders what agent clients send (a developer
    message, two user turns in a row, an assistant turn with reasoning_content): 200, or a 400
    carrying the template's own refusal, never a 500."""
    from harness import SHARED
    tdir = os.path.join(SHARED, 'templates')
    names = sorted(n for n in os.listdir(tdir) if n.endswith('.jinja'))
    assert len(names) >= 5
    msgs = [{'role': 'developer', 'content': 'You are a helpful agent.'},
            {'role': 'user', 'content': 'Hi'}, {'role': 'user', 'content': 'List the files.'},
            {'role': 'assistant', 'content': 'Sure.', 'reasoning_content': 'ok'},
            {'role': 'user', 'content': 'Thanks'}]
    ok_count = 0
    with tempfile.TemporaryDirectory() as d:
        for n in names:
            path = os.path.join(d, 'tmpl.gguf')
            gguf_with_template(STORIES, path, open(os.path.join(tdir, n)).read())
            with Server('-t', 1, '-c', 2048, model=path) as s:
                st, b, _, _ = s.post('/v1/chat/completions', dict(model='tmpl', messages=msgs, max_tokens=2))
                assert st in (200, 400), (n, st, b)
                if st == 400:
                    check_error(st, b, 400, 'messages', contains='chat template')
                else:
                    ok_count += 1
    assert ok_count == len(names), ok_count


@test
def cors_preflight_and_headers():
    s = S()
    st, _, r, text = s.request('OPTIONS', '/v1/chat/completions', headers={
        'Origin': 'http://x', 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type'})
    assert st == 204 and text == ''
    assert r.getheader('Access-Control-Allow-Origin') == '*'
    assert 'POST' in r.getheader('Access-Control-Allow-Methods')
    assert 'authorization' in r.getheader('Access-Control-Allow-Headers').lower()
    st, _, r, _ = s.chat(max_tokens=1)
    assert r.getheader('Access-Control-Allow-Origin') == '*'


@test
def api_key_is_required_when_set():
    with Server('--api-key', 'sekrit', '-t', 1, model=None) as s:
        st, b, _, _ = s.request('GET', '/v1/models')
        check_error(st, b, 401, code='invalid_api_key')
        st, b, _, _ = s.request('GET', '/v1/models', headers={'Authorization': 'Bearer wrong'})
        check_error(st, b, 401)
        st, b, _, _ = s.request('GET', '/v1/models', headers={'Authorization': 'Bearer sekrit'})
        ok(st, b)
        st, b, _, _ = s.request('GET', '/health')
        ok(st, b)


@test
def keep_alive_connection_serves_several_requests():
    c = S().conn()
    for _ in range(3):
        c.request('GET', '/v1/models')
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read())['object'] == 'list'
    c.close()


@test
def queue_full_gives_429_with_retry_after():
    with Server('--parallel', 1, '--queue', 1, '-t', 1, '-c', 2048) as s:
        long = json.dumps(dict(model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], stream=True,
                               max_tokens=1500, logit_bias=NO_EOS))
        conns = []
        for _ in range(2):
            c = s.conn()
            c.request('POST', '/v1/chat/completions', body=long, headers={'Content-Type': 'application/json'})
            conns.append(c)
            if len(conns) == 1:
                r = c.getresponse()
                assert r.status == 200
                r.readline()  # running
        time.sleep(0.3)  # the second is queued
        st, b, r, _ = s.chat(max_tokens=2)
        check_error(st, b, 429, code='queue_full')
        ra = r.getheader('Retry-After')  # from the queue's drain rate (docs/overload.md)
        assert ra and ra.isdigit() and 1 <= int(ra) <= 59, ra
        for c in conns:
            c.sock.shutdown(socket.SHUT_RDWR)
            c.close()


@test
def queue_zero_means_no_waiting_room():
    """--queue 0: a request beyond the running slots gets 429 + Retry-After at once."""
    with Server('--parallel', 1, '--queue', 0, '-t', 1, '-c', 2048) as s:
        c = s.conn()
        c.request('POST', '/v1/chat/completions', body=json.dumps(dict(
            model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], stream=True, max_tokens=1500,
            logit_bias=NO_EOS)), headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        assert r.status == 200
        r.readline()  # running
        t0 = time.time()
        st, b, r2, _ = s.chat(max_tokens=2)
        check_error(st, b, 429, code='queue_full')
        assert r2.getheader('Retry-After') == '1' and time.time() - t0 < 10
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        for _ in range(100):  # the slot comes back once the hang-up is seen
            st, b, _, _ = s.chat(max_tokens=2)
            if st == 200:
                break
            time.sleep(0.1)
        assert st == 200, (st, b)


@test
def sigterm_drains_in_flight_requests_and_exits_0():
    s = Server('--parallel', 2, '-t', 1, '-c', 512)
    try:
        c = s.conn()
        c.request('POST', '/v1/chat/completions', body=json.dumps(dict(
            model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], stream=True, max_tokens=300,
            logit_bias=NO_EOS)), headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        assert r.status == 200
        first = r.readline()
        assert first.startswith(b'data: ') or first.startswith(b':')
        idle = s.conn()  # an open keep-alive connection
        idle.request('GET', '/health')
        assert idle.getresponse().read()
        s.p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        try:  # an idle keep-alive connection is either closed or answered 503
            idle.request('POST', '/v1/chat/completions', body=json.dumps(dict(
                model=MODEL, messages=[{'role': 'user', 'content': 'hi'}])),
                headers={'Content-Type': 'application/json'})
            ir = idle.getresponse()
            check_error(ir.status, json.loads(ir.read()), 503, code='shutting_down')
        except (ConnectionError, http.client.RemoteDisconnected):
            pass
        idle.close()
        try:  # no longer accepting
            socket.create_connection(('127.0.0.1', s.port), timeout=1).close()
            refused = False
        except OSError:
            refused = True
        rest = r.read().decode()
        ev, _ = parse_sse(first.decode() + rest)
        assert ev[-1] == '[DONE]'
        t, f = stream_text(ev)
        assert f == ['length'], (f, rest[-300:])
        assert s.p.wait(30) == 0
        assert refused
        assert '"draining"' in s.logs() and '"stopped"' in s.logs()
    finally:
        if s.p.poll() is None:
            s.p.kill()


@test
def waiting_streams_get_keep_alive_comments():
    with Server('--parallel', 1, '--sse-keepalive-ms', 50, '-t', 1, '-c', 2048) as s:
        c = s.conn()
        c.request('POST', '/v1/chat/completions', body=json.dumps(dict(
            model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], stream=True, max_tokens=1500,
            logit_bias=NO_EOS)), headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        r.readline()
        # queued behind the first: comments until its turn, then a normal stream
        ev, comments, raw = s.stream('/v1/chat/completions', dict(
            model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], max_tokens=3, logit_bias=NO_EOS))
        assert comments >= 2 and ': keep-alive\n\n' in raw, raw[:300]
        assert ev[-1] == '[DONE]' and stream_text(ev)[1] == ['length']
        c.close()


@test
def header_limit_and_bad_options():
    s = S()
    c = s.conn()
    c.request('GET', '/health', headers={'X-Big': 'x' * 200000})
    assert c.getresponse().status == 431
    c.close()
    from harness import lmx
    for args in (['--port', 'x'], ['--parallel', '0'], ['--bogus'], ['-c']):
        p = lmx('serve', *args, check=False)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
    p = lmx('serve', '--port', s.port, check=False)  # taken
    # a taken port is named as such, before any model loads (issue 11)
    assert p.returncode == 1 and 'already in use' in p.stderr, p.stderr
    p = lmx('serve', '-m', '/nonexistent.gguf', '--port', 0, check=False)
    assert p.returncode == 1 and 'nonexistent' in p.stderr


@test
def drain_timeout_cuts_streams_short_with_an_error_event():
    s = Server('--parallel', 1, '-t', 1, '-c', 2048, '--drain-timeout', 0)
    try:
        c = s.conn()
        c.request('POST', '/v1/chat/completions', body=json.dumps(dict(
            model=MODEL, messages=[{'role': 'user', 'content': 'hi'}], stream=True, max_tokens=2000,
            logit_bias=NO_EOS)), headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        first = r.readline() + r.readline()
        s.p.send_signal(signal.SIGTERM)
        ev, _ = parse_sse(first.decode() + r.read().decode())
        assert 'error' in ev[-1] and ev[-1]['error']['code'] == 'shutting_down', ev[-1]
        assert s.p.wait(30) == 0
    finally:
        if s.p.poll() is None:
            s.p.kill()


@test
def request_log_lines_are_json():
    S().chat(max_tokens=2)
    lines = [json.loads(l) for l in S().logs().splitlines()]
    reqs = [l for l in lines if l.get('msg') == 'request' and l['path'] == '/v1/chat/completions'
            and l['status'] == 200]
    assert reqs, lines[-5:]
    l = reqs[-1]
    for k in ('ts', 'method', 'status', 'duration_us', 'model', 'prompt_tokens', 'completion_tokens'):
        assert k in l, l


if __name__ == '__main__':
    try:
        main()
    finally:
        if _S is not None:
            _S.stop()
