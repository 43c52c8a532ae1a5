#!/usr/bin/env python3
"""What a client's model picker sees (GET /v1/models) and how a request that
names no model is routed: the store's models and the aliases are listed with
a "loaded" field when load_on_demand is on; GET /v1/models/{id} never loads;
a request without a model goes to the one loaded model or default_model,
else a 400 lists the choices; wildcard aliases (claude-*, gpt-*) route
hard-coded vendor names to a local model."""
import json, os, shutil, tempfile, time

from harness import SHARED, STORIES, main, test
from server_util import Server

_tmp = tempfile.mkdtemp(prefix='lmx-disc-')
STORE = os.path.join(_tmp, 'store')
os.makedirs(STORE)
shutil.copy(STORIES, os.path.join(STORE, 'stories260K.gguf'))
shutil.copy(os.path.join(SHARED, 'models', 'synth', 'llama-q4_0.gguf'), os.path.join(STORE, 'tiny-llama.gguf'))
BIG = os.path.join(_tmp, 'big')
os.makedirs(BIG)
shutil.copy(STORIES, os.path.join(BIG, 'stories260K.gguf'))
shutil.copy(os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf'), os.path.join(BIG, 'qwen.gguf'))


def loaded(s):
    st, j, _, _ = s.request('GET', '/admin/status')
    assert st == 200, j
    return [m['id'] for m in j['models']]


def ids(s):
    st, j, _, _ = s.request('GET', '/v1/models')
    assert st == 200 and j['object'] == 'list', j
    return {m['id']: m for m in j['data']}


@test
def v1_models_lists_the_store_and_aliases_and_get_never_loads():
    with Server('--models-dir', STORE, '-t', 1, '-c', 256, '--parallel', 1, '--alias', 'chat=stories260K',
                model=None) as s:
        m = ids(s)
        assert set(m) == {'stories260K', 'tiny-llama', 'chat'}, m
        assert all(x['loaded'] is False and x['object'] == 'model' for x in m.values()), m
        assert m['stories260K']['architecture'] == 'llama' and m['stories260K']['context_length'] == 2048, m
        assert m['chat']['alias_of'] == ['stories260K'], m
        st, one, _, _ = s.request('GET', '/v1/models/stories260K')
        assert st == 200 and one['id'] == 'stories260K' and one['loaded'] is False, one
        st, one, _, _ = s.request('GET', '/v1/models/chat')
        assert st == 200 and one['loaded'] is False, one
        assert loaded(s) == [], 'a GET loaded a model'
        st, e, _, _ = s.request('GET', '/v1/models/nope')
        assert st == 404 and e['error']['code'] == 'model_not_found', e
        # a request loads on demand; the list then says so, for the alias too
        st, j, _, _ = s.chat(model='chat', max_tokens=2)
        assert st == 200, j
        m = ids(s)
        assert m['stories260K']['loaded'] is True and m['chat']['loaded'] is True, m
        assert m['tiny-llama']['loaded'] is False, m
        assert list(m)[0] == 'stories260K', m  # loaded models first
        s.stop()
    with Server('--models-dir', STORE, '-t', 1, '--no-load-on-demand', model=None) as s:
        assert ids(s) == {}, 'without load_on_demand only loaded models are usable'
        s.stop()


def chat(s, **body):
    body.setdefault('messages', [{'role': 'user', 'content': 'Once upon a time'}])
    body.setdefault('max_tokens', 2)
    return s.post('/v1/chat/completions', body)


@test
def a_request_without_a_model_goes_to_the_default_one():
    with Server('--models-dir', STORE, '-t', 1, '-c', 256, '--parallel', 1, model=None) as s:
        # nothing loaded, no default_model: a 400 that lists the choices
        st, j, _, _ = chat(s)
        assert st == 400 and j['error']['code'] == 'model_required' and j['error']['param'] == 'model', j
        assert "'stories260K'" in j['error']['message'] and "'tiny-llama'" in j['error']['message'], j
        assert '--default-model' in j['error']['message'], j
        assert loaded(s) == []
        # one model loaded: it answers a request without a model, and one with model ""
        st, j, _, _ = chat(s, model='stories260K')
        assert st == 200, j
        for body in ({}, {'model': ''}):
            st, j, _, _ = chat(s, **body)
            assert st == 200 and j['model'] == 'stories260K', (body, j)
        st, j, _, _ = s.post('/v1/completions', {'prompt': 'Once', 'max_tokens': 2})
        assert st == 200 and j['model'] == 'stories260K', j
        # two loaded and no default_model: the choice is the client's
        st, j, _, _ = chat(s, model='tiny-llama')
        assert st == 200, j
        st, j, _, _ = chat(s)
        assert st == 400 and 'several models are loaded' in j['error']['message'], j
        s.stop()
    with Server('--models-dir', STORE, '-t', 1, '-c', 256, '--parallel', 1, '--default-model', 'tiny-llama',
                model=None) as s:
        st, j, _, _ = chat(s)
        assert st == 200 and j['model'] == 'tiny-llama', j  # loaded on demand
        s.stop()


@test
def wildcard_aliases_route_vendor_model_names():
    with Server('--models-dir', STORE, '-t', 1, '-c', 256, '--parallel', 1, '--alias', 'claude-*=stories260K',
                '--alias', 'gpt-4o=tiny-llama', '--alias', 'gpt-*=stories260K', model=None) as s:
        for name, want in (('claude-3-5-sonnet-20241022', 'stories260K'), ('gpt-4o-mini', 'stories260K'),
                           ('gpt-4o', 'tiny-llama')):  # an exact alias wins over a pattern
            st, j, _, _ = chat(s, model=name)
            assert st == 200 and j['model'] == want, (name, j)
        st, j, _, _ = chat(s, model='mistral-large')
        assert st == 404 and j['error']['code'] == 'model_not_found', j
        s.stop()


@test
def admission_never_evicts_for_nothing():
    # 18 MiB: stories260K fits; qwen at 8 parallel sequences (~30 MiB) does not, even alone
    with Server('--models-dir', BIG, '-t', 1, '--memory-limit', '18M', '--memory-reserve', '0',
                model=None) as s:
        st, j, _, _ = s.post('/admin/models/load', {'model': 'stories260K', 'ctx_size': 256})
        assert st == 200, j
        st, j, _, _ = s.post('/admin/models/load', {'model': 'qwen', 'parallel': 8})
        assert st == 507 and j['error']['code'] == 'insufficient_memory', j
        assert '--ctx' in j['error']['message'] and '--parallel' in j['error']['message'], j
        assert 'now 8' in j['error']['message'], j
        assert loaded(s) == ['stories260K'], 'an eviction that could not make room happened'
        assert 'evicting' not in s.logs(), s.logs()
        # one that fits once the idle model goes: that eviction happens
        st, j, _, _ = s.post('/admin/models/load', {'model': 'qwen', 'ctx_size': 64, 'parallel': 1})
        assert st == 200, j
        assert loaded(s) == ['qwen'] and 'evicting' in s.logs(), (loaded(s), s.logs()[-2000:])
        s.stop()


def defaults_line(s, model):
    for line in s.logs().splitlines():
        if 'defaults reduced to fit memory' in line and model in line:
            return json.loads(line[line.index('{'):])
    raise AssertionError('no defaults line for %s: %s' % (model, s.logs()[-2000:]))


def status_of(s, model):
    st, j, _, _ = s.request('GET', '/admin/status')
    assert st == 200, j
    return next(m for m in j['models'] if m['id'] == model)


@test
def memory_aware_defaults_shrink_parallel_then_context_but_never_explicit_values():
    # qwen: ~13 MiB of weights and buffers, 512 bytes of KV per position per parallel slot, so
    # 8 x 4096 (~29 MiB) does not fit 18 MiB; fewer sequences of the full context do
    with Server('--models-dir', BIG, '-t', 1, '--memory-limit', '18M', '--memory-reserve', '0',
                model=None) as s:
        st, j, _, _ = s.post('/admin/models/load', {'model': 'qwen'})
        assert st == 200, j
        m = status_of(s, 'qwen')
        assert 1 <= m['parallel'] < 8 and m['context_length'] == 4096, m
        d = defaults_line(s, 'qwen')
        assert d['parallel'] == m['parallel'] and d['ctx'] == 4096, d
        assert d['default_parallel'] == 8 and d['needed_bytes'] <= d['available_bytes'], d
        st, j, _, _ = s.chat(model='qwen', messages=[{'role': 'user', 'content': 'hi'}], max_tokens=2)
        assert st == 200, j
        s.stop()
    # so little room that one sequence of 4096 does not fit: parallel 1, a shorter context (-m too)
    qwen = os.path.join(BIG, 'qwen.gguf')
    with Server('-t', 1, '--memory-limit', '14M', '--memory-reserve', '0', model=qwen) as s:
        m = status_of(s, 'qwen')
        assert m['parallel'] == 1 and 2048 <= m['context_length'] < 4096, m
        d = defaults_line(s, 'qwen')
        assert d['parallel'] == 1 and d['ctx'] == m['context_length'], d
        s.stop()
    # explicit values are kept: --parallel 8 does not fit, and that is the 507
    with Server('--models-dir', BIG, '-t', 1, '--memory-limit', '18M', '--memory-reserve', '0',
                '--parallel', 8, model=None) as s:
        st, j, _, _ = s.post('/admin/models/load', {'model': 'qwen'})
        assert st == 507 and j['error']['code'] == 'insufficient_memory', j
        assert '--parallel' in j['error']['message'] and 'now 8' in j['error']['message'], j
        d = defaults_line(s, 'qwen')  # only the context was free to shrink, and the floor is too big
        assert d['parallel'] == 8 and d['ctx'] == 2048 and not d['fits'], d
        # explicit values that fit load as given
        st, j, _, _ = s.post('/admin/models/load', {'model': 'qwen', 'parallel': 1, 'ctx_size': 1024})
        assert st == 200, j
        s.stop()


if __name__ == '__main__':
    try:
        main()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
