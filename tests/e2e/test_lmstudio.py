#!/usr/bin/env python3
"""LM Studio's native REST API on lmx serve (v1 and v0), checked field by field
against fixtures written from LM Studio's docs (fixtures/lmstudio/, README there
cites the pages), with a plain HTTP client as LM Studio's own clients use it.

The load -> chat -> unload cycle and JIT loading with an idle ttl run against
a daemon started with only --models-dir (stories260K there as a symlink: the
model manager's store). Downloads with their status, and the same cycle on a
downloaded model, run against a fake Hugging Face hub (tests/e2e/fakehub.py)."""
import json, os, sys, time

from harness import main, test
from harness import admin_headers
from server_util import MODEL, Server

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, 'fixtures', 'lmstudio')


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


def kind(v):
    if v is None:
        return 'null'
    if isinstance(v, bool):
        return 'boolean'
    if isinstance(v, (int, float)):
        return 'number'
    return {str: 'string', list: 'array', dict: 'object'}[type(v)]


def shape(fx, actual, path='', optional=(), nullable=()):
    """Every key of the fixture's example is in actual with the same JSON type."""
    if isinstance(fx, dict):
        assert isinstance(actual, dict), f'{path or "body"}: expected an object, got {actual!r}'
        for k, v in fx.items():
            p = f'{path}.{k}' if path else k
            if k not in actual:
                assert p in optional, f'{p}: missing (LMX answered {sorted(actual)})'
                continue
            shape(v, actual[k], p, optional, nullable)
        return
    if isinstance(fx, list):
        assert isinstance(actual, list), f'{path}: expected an array, got {actual!r}'
        if fx:
            for a in actual:
                shape(fx[0], a, path + '[]', optional, nullable)
        return
    if actual is None and path in nullable:
        return
    assert kind(actual) == kind(fx), f'{path}: expected {kind(fx)} like {fx!r}, got {actual!r}'


def check(name, actual):
    f = fixture(name)
    shape(f['example'], actual, optional=set(f['optional']), nullable=set(f['nullable']))


def v1_load_chat_unload(s, key, all_shapes):
    """The v1 instance cycle on model key: load it (context 256), chat on the
    instance, see it listed, unload it (a second unload is a 404); the load
    and unload answers are checked against their fixtures (all_shapes: the
    model list and the chat answer too)."""
    st, j, _, _ = s.post('/api/v1/models/load', {'model': key, 'context_length': 256, 'echo_load_config': True})
    assert st == 200 and j['load_config']['context_length'] == 256, j
    check('v1_load.json', j)
    inst = j['instance_id']
    if all_shapes:
        st, j, _, _ = s.request('GET', '/api/v1/models')
        check('v1_models.json', j)
    st, j, _, _ = s.post('/api/v1/chat', {'model': key, 'input': 'Once upon a time', 'max_output_tokens': 4})
    assert st == 200 and j['model_instance_id'] == inst, j
    if all_shapes:
        check('v1_chat.json', j)
    st, j, _, _ = s.request('GET', '/api/v1/models')
    m = [x for x in j['models'] if x['key'] == key][0]
    assert m['loaded_instances'][0]['id'] == inst and m['loaded_instances'][0]['config']['context_length'] == 256
    st, j, _, _ = s.post('/api/v1/models/unload', {'instance_id': inst})
    assert st == 200, j
    check('v1_unload.json', j)
    st, j, _, _ = s.request('GET', f'/api/v0/models/{key}')
    assert j['state'] == 'not-loaded', j
    st, j, _, _ = s.post('/api/v1/models/unload', {'instance_id': inst})
    assert st == 404, j


def jit_load_with_ttl(s, key, embeddings):
    """/v1 chat with ttl 2 loads model key just in time and it unloads after
    2 s idle; then v0 chat and v1 chat (and first v0 embeddings, when
    embeddings) load it just in time too."""
    st, j, _, _ = s.post('/v1/chat/completions', {'model': key, 'ttl': 2, 'max_tokens': 2,
                                                  'messages': [{'role': 'user', 'content': 'hi'}]})
    assert st == 200, j
    st, j, _, _ = s.request('GET', f'/api/v0/models/{key}')
    assert j['state'] == 'loaded', j
    time.sleep(4)
    st, j, _, _ = s.request('GET', f'/api/v0/models/{key}')
    assert j['state'] == 'not-loaded', j
    if embeddings:
        st, j, _, _ = s.post('/api/v0/embeddings', {'model': key, 'ttl': 2, 'input': 'hi'})
        assert st == 200 and len(j['data']) == 1, j
        st, j, _, _ = s.request('GET', f'/api/v0/models/{key}')
        assert j['state'] == 'loaded', j
    st, j, _, _ = s.post('/api/v0/chat/completions', {'model': key, 'ttl': 60, 'max_tokens': 2,
                                                      'messages': [{'role': 'user', 'content': 'hi'}]})
    assert st == 200, j
    st, j, _, _ = s.post('/api/v1/chat', {'model': key, 'input': 'hi', 'max_output_tokens': 2})
    assert st == 200, j


def sse_events(raw):
    """[(event name, data)] of an SSE body with `event:` lines."""
    out = []
    for block in raw.split('\n\n'):
        if not block.strip() or block.startswith(':'):
            continue
        ev, data = None, None
        for line in block.split('\n'):
            if line.startswith('event: '):
                ev = line[7:]
            elif line.startswith('data: '):
                data = json.loads(line[6:])
        out.append((ev, data))
    return out


def post_stream(s, path, body):
    c = s.conn()
    c.request('POST', path, body=json.dumps(body),
              headers={'Content-Type': 'application/json', **admin_headers()})
    r = c.getresponse()
    assert r.status == 200, (r.status, r.read())
    assert r.getheader('Content-Type').startswith('text/event-stream')
    raw = r.read().decode()
    c.close()
    return raw


_srv = None


def srv():
    global _srv
    if _srv is None:
        _srv = Server('--parallel', 2, '-c', 1024, '-t', 1)
    return _srv


# ---- v1 ----

@test
def v1_models_matches_docs():
    st, j, _, _ = srv().request('GET', '/api/v1/models')
    assert st == 200, j
    check('v1_models.json', j)
    m = [x for x in j['models'] if x['key'] == MODEL][0]
    assert m['type'] == 'llm' and m['format'] == 'gguf' and m['architecture'] == 'llama'
    assert m['loaded_instances'][0]['id'] == MODEL
    cfg = m['loaded_instances'][0]['config']
    assert cfg['context_length'] == 1024 and cfg['parallel'] == 2, cfg
    assert m['max_context_length'] >= cfg['context_length']
    assert m['capabilities'] == {'vision': False, 'trained_for_tool_use': False}
    assert m['size_bytes'] == os.path.getsize(srv_model_path())


def srv_model_path():
    from harness import STORIES
    return STORIES


@test
def v1_load_of_a_loaded_model_matches_docs():
    st, j, _, _ = srv().post('/api/v1/models/load', {'model': MODEL, 'echo_load_config': True,
                                                      'flash_attention': True, 'offload_kv_cache_to_gpu': False})
    assert st == 200, j
    check('v1_load.json', j)
    assert j['instance_id'] == MODEL and j['status'] == 'loaded' and j['type'] == 'llm'
    assert j['load_config']['context_length'] == 1024
    st, j, _, _ = srv().post('/api/v1/models/load', {'model': MODEL})
    assert st == 200 and 'load_config' not in j, j


@test
def v1_load_errors():
    st, j, _, _ = srv().post('/api/v1/models/load', {})
    assert st == 400 and j['error']['param'] == 'model', j
    st, j, _, _ = srv().post('/api/v1/models/load', {'model': MODEL, 'context_length': 'big'})
    assert st == 400 and j['error']['param'] == 'context_length', j
    st, j, _, _ = srv().post('/api/v1/models/unload', {})
    assert st == 400 and j['error']['param'] == 'instance_id', j


@test
def v1_chat_matches_docs():
    body = {'model': MODEL, 'system_prompt': 'You tell stories.', 'input': 'Once upon a time',
            'temperature': 0, 'max_output_tokens': 8}
    st, j, _, _ = srv().post('/api/v1/chat', body)
    assert st == 200, j
    check('v1_chat.json', j)
    assert j['model_instance_id'] == MODEL
    assert j['output'][0]['type'] == 'message' and isinstance(j['output'][0]['content'], str)
    assert j['stats']['total_output_tokens'] <= 8 and j['stats']['input_tokens'] > 0
    assert j['response_id'].startswith('resp_')
    # input as items
    st, j2, _, _ = srv().post('/api/v1/chat', {**body, 'input': [{'type': 'message', 'content': 'Once upon a time'}]})
    assert st == 200 and j2['output'][0]['content'] == j['output'][0]['content'], (j, j2)
    # streamed: LM Studio's named events, chat.end carrying the same result
    raw = post_stream(srv(), '/api/v1/chat', {**body, 'stream': True})
    evs = sse_events(raw)
    fx = fixture('v1_chat_events.json')['example']
    names = [e for e, _ in evs]
    order = [n for n in names if n != 'message.delta']
    assert order == [n for n in fx['order'] if n != 'message.delta'], names
    assert names.count('message.delta') >= 1
    for e, d in evs:
        assert d['type'] == e, (e, d)
        if e in fx:
            shape(fx[e], d, e)
    text = ''.join(d['content'] for e, d in evs if e == 'message.delta')
    assert text == j['output'][0]['content'], (text, j)
    end = evs[-1][1]['result']
    check('v1_chat.json', end)
    assert end['output'][0]['content'] == text


@test
def v1_chat_errors():
    s = srv()
    st, j, _, _ = s.post('/api/v1/chat', {'model': MODEL, 'input': [{'type': 'image', 'data_url': 'data:image/png;base64,AA=='}]})
    assert st == 400 and 'Image' in j['error']['message'], j
    st, j, _, _ = s.post('/api/v1/chat', {'model': MODEL, 'input': 'hi', 'integrations': ['mcp/playwright']})
    assert st == 400 and j['error']['param'] == 'integrations', j
    st, j, _, _ = s.post('/api/v1/chat', {'model': MODEL, 'input': 'hi', 'previous_response_id': 'resp_x'})
    assert st == 400 and j['error']['param'] == 'previous_response_id', j
    st, j, _, _ = s.post('/api/v1/chat', {'input': 'hi'})
    assert st == 400 and j['error']['param'] == 'model', j
    st, j, _, _ = s.post('/api/v1/chat', {'model': 'nope', 'input': 'hi'})
    assert st == 404 and j['error']['code'] == 'model_not_found', j
    st, j, _, _ = s.post('/api/v1/chat', {'model': MODEL})
    assert st == 400 and j['error']['param'] == 'input', j


@test
def v1_download_status_unknown_job():
    st, j, _, _ = srv().request('GET', '/api/v1/models/download/status/job_nope')
    assert st == 404 and j['error']['code'] == 'job_not_found', j
    st, j, _, _ = srv().post('/api/v1/models/download', {'model': 'not a repo'})
    assert st == 400 and j['error']['param'] == 'model', j


# ---- v0 ----

@test
def v0_models_match_docs():
    st, j, _, _ = srv().request('GET', '/api/v0/models')
    assert st == 200, j
    check('v0_models.json', j)
    m = [x for x in j['data'] if x['id'] == MODEL][0]
    assert m['state'] == 'loaded' and m['compatibility_type'] == 'gguf' and m['type'] == 'llm', m
    assert m['loaded_context_length'] == 1024
    assert m['capabilities'] == []
    st, one, _, _ = srv().request('GET', f'/api/v0/models/{MODEL}')
    assert st == 200, one
    check('v0_model.json', one)
    assert one == m
    st, j, _, _ = srv().request('GET', '/api/v0/models/nope')
    assert st == 404 and j['error']['code'] == 'model_not_found', j


@test
def v0_chat_completions_match_docs():
    body = {'model': MODEL, 'messages': [{'role': 'user', 'content': 'Once upon a time'}], 'temperature': 0,
            'max_tokens': 6}
    st, j, _, _ = srv().post('/api/v0/chat/completions', body)
    assert st == 200, j
    check('v0_chat_completions.json', j)
    assert j['model_info'] == {'arch': 'llama', 'quant': j['model_info']['quant'], 'format': 'gguf',
                               'context_length': 1024}, j
    assert j['stats']['stop_reason'] in ('eosFound', 'maxPredictedTokensReached')
    assert j['stats']['generation_time'] >= 0 and j['stats']['time_to_first_token'] >= 0
    # max_tokens -1 is LM Studio's "no limit"
    st, j2, _, _ = srv().post('/api/v0/chat/completions', {**body, 'max_tokens': -1, 'logit_bias': {'2': -100},
                                                           'stop': ['.']})
    assert st == 200, j2
    # streamed: OpenAI's chunks and [DONE]
    raw = post_stream(srv(), '/api/v0/chat/completions', {**body, 'stream': True})
    assert raw.rstrip().endswith('data: [DONE]'), raw[-200:]


@test
def v0_completions_match_docs():
    st, j, _, _ = srv().post('/api/v0/completions', {'model': MODEL, 'prompt': 'the meaning of life is',
                                                      'temperature': 0.7, 'max_tokens': 10, 'stop': '\n'})
    assert st == 200, j
    check('v0_completions.json', j)


@test
def v0_embeddings_match_docs():
    st, j, _, _ = srv().post('/api/v0/embeddings', {'model': MODEL, 'input': 'Some text to embed'})
    assert st == 200, j
    check('v0_embeddings.json', j)
    assert j['model'] == MODEL and len(j['data']) == 1 and j['usage']['prompt_tokens'] > 0, j
    # the same vectors as /v1/embeddings; several inputs in order; ttl accepted
    st, v1, _, _ = srv().post('/v1/embeddings', {'model': MODEL, 'input': ['Some text to embed', 'more']})
    st, j, _, _ = srv().post('/api/v0/embeddings', {'model': MODEL, 'input': ['Some text to embed', 'more'],
                                                     'ttl': 300})
    assert st == 200 and [d['index'] for d in j['data']] == [0, 1], j
    assert [d['embedding'] for d in j['data']] == [d['embedding'] for d in v1['data']]
    st, j, _, _ = srv().post('/api/v0/embeddings', {'model': 'nope', 'input': 'x'})
    assert st == 404 and j['error']['code'] == 'model_not_found', j
    st, j, _, _ = srv().post('/api/v0/embeddings', {'model': MODEL})
    assert st == 400 and j['error']['param'] == 'input', j
    st, j, _, _ = srv().post('/api/v0/embeddings', {'model': MODEL, 'input': 'x', 'ttl': 'soon'})
    assert st == 400 and j['error']['param'] == 'ttl', j


@test
def ttl_accepted_on_openai_routes():
    # a loaded model: the request is served (its ttl refreshed by the manager)
    for path, body in (('/v1/chat/completions', {'messages': [{'role': 'user', 'content': 'hi'}]}),
                       ('/api/v0/chat/completions', {'messages': [{'role': 'user', 'content': 'hi'}]}),
                       ('/v1/completions', {'prompt': 'hi'})):
        st, j, _, _ = srv().post(path, {'model': MODEL, 'max_tokens': 2, 'ttl': 300, **body})
        assert st == 200, (path, j)
    st, j, _, _ = srv().post('/v1/chat/completions', {'model': MODEL, 'ttl': 'soon',
                                                      'messages': [{'role': 'user', 'content': 'hi'}]})
    assert st == 400 and j['error']['param'] == 'ttl', j
    st, j, _, _ = srv().post('/v1/chat/completions', {'model': MODEL, 'max_tokens': -1, 'max_completion_tokens': 3,
                                                      'messages': [{'role': 'user', 'content': 'hi'}]})
    assert st == 200 and j['usage']['completion_tokens'] <= 3, j


# ---- the model manager: a daemon with no -m and stories260K in its --models-dir ----

_store_srv = None


def store_srv():
    global _store_srv
    if _store_srv is None:
        from server_util import STORIES
        d = f'/tmp/lmx-lms-store-{os.getpid()}'
        os.makedirs(d, exist_ok=True)
        link = os.path.join(d, f'{MODEL}.gguf')
        if not os.path.islink(link):
            os.symlink(os.path.abspath(STORIES), link)
        _store_srv = Server('-t', 1, '-c', 512, '--models-dir', d, model=None, env=dict(os.environ, HOME=d))
    return _store_srv


@test
def store_load_chat_unload_cycle():
    s = store_srv()
    st, j, _, _ = s.request('GET', '/api/v1/models')
    assert st == 200, j
    m = [x for x in j['models'] if x['key'] == MODEL][0]
    assert m['loaded_instances'] == [] and m['publisher'] == 'local', m
    v1_load_chat_unload(s, MODEL, all_shapes=True)


@test
def store_jit_load_with_ttl():
    s = store_srv()
    st, j, _, _ = s.request('GET', f'/api/v0/models/{MODEL}')
    assert j['state'] == 'not-loaded', j
    jit_load_with_ttl(s, MODEL, embeddings=True)


@test
def store_daemon_exits_cleanly():
    global _store_srv
    s, _store_srv = store_srv(), None
    rc = s.stop()
    import shutil
    shutil.rmtree(f'/tmp/lmx-lms-store-{os.getpid()}', ignore_errors=True)
    assert rc == 0, (rc, s.logs()[-3000:])


# ---- downloads (from a fake Hugging Face hub) ----

_hub_srv = None

def hub_srv():
    """A server with an empty store of its own, downloading from the fake hub."""
    global _hub_srv
    if _hub_srv is None:
        from fakehub import single_model_hub
        hub = single_model_hub()
        home = f'/tmp/lmx-lms-home-{os.getpid()}'
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home, HF_ENDPOINT=hub.url)
        _hub_srv = (Server('-t', 1, '-c', 512, env=env), hub)
    return _hub_srv

@test
def hub_download_with_status():
    s, hub = hub_srv()
    st, j, _, _ = s.post('/api/v1/models/download', {'model': f'https://huggingface.co/{hub.repo}',
                                                     'quantization': hub.quant})
    assert st == 200, j
    check('v1_download.json', j)
    job = j['job_id']
    for _ in range(300):
        st, j, _, _ = s.request('GET', f'/api/v1/models/download/status/{job}')
        assert st == 200, j
        if j['status'] != 'downloading':
            break
        time.sleep(0.1)
    assert j['status'] == 'completed', j
    check('v1_download_status.json', j)
    assert j['downloaded_bytes'] == j['total_size_bytes'] == os.path.getsize(srv_model_path())
    st, j, _, _ = s.post('/api/v1/models/download', {'model': hub.repo, 'quantization': hub.quant})
    assert st == 200 and j == {'status': 'already_downloaded'}, j

@test
def hub_downloaded_load_chat_unload_cycle():
    s, hub = hub_srv()
    key = f'{hub.repo}:{hub.quant}'
    st, j, _, _ = s.request('GET', '/api/v1/models')
    m = [x for x in j['models'] if x['key'] == key][0]
    assert m['loaded_instances'] == [] and m['publisher'] == hub.repo.split('/')[0], m
    v1_load_chat_unload(s, key, all_shapes=False)

@test
def hub_downloaded_jit_load_with_ttl():
    s, hub = hub_srv()
    key = f'{hub.repo}:{hub.quant}'
    jit_load_with_ttl(s, key, embeddings=False)


@test
def zz_daemon_exits_cleanly():
    # last: SIGTERM drains and exits 0 (under the sanitizer build a leak makes it non-zero)
    global _srv
    s, _srv = srv(), None
    rc = s.stop()
    assert rc == 0, (rc, s.logs()[-3000:])


if __name__ == '__main__':
    try:
        main()
    finally:
        for srv_ in (_srv, _store_srv, _hub_srv and _hub_srv[0]):
            if srv_:
                srv_.__exit__()
        if _hub_srv:
            _hub_srv[1].close()
