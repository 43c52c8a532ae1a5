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


if __name__ == '__main__':
    try:
        main()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
