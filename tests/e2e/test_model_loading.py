#!/usr/bin/env python3
"""503 model_loading: a request for a model that is loading waits for it at
most load_wait seconds, then gets 503 with an honest Retry-After in every
dialect (OpenAI, Anthropic, Ollama, LM Studio; HTTP, SSE, WebSocket) while the
load goes on; short loads are simply waited for; the openai npm SDK's own retry
recovers. The slow load is the TESTING ONLY models_debug.load_delay_ms (a real
model big enough to take seconds would take a minute to write): its delay is
spread over the tensors, so the progress the estimate reads is the real one."""
import http.client, json, os, shutil, tempfile, threading, time

from harness import SHARED, STORIES, admin_headers, main, test
from node_checks import run_driver
from server_util import Server

SYNTH = os.path.join(SHARED, 'models', 'synth')
MSG = [{'role': 'user', 'content': 'Once upon a time'}]


def store():
    d = tempfile.mkdtemp(prefix='lmx-loading-')
    os.symlink(os.path.realpath(STORIES), os.path.join(d, 'stories260K.gguf'))
    for n in ('llama-q8_0', 'llama-f32'):
        os.symlink(os.path.realpath(os.path.join(SYNTH, n + '.gguf')), os.path.join(d, n + '.gguf'))
    return d


def serve(d, delay_ms, *args):
    cfg = os.path.join(d, 'lmx.yaml')
    with open(cfg, 'w') as f:
        f.write(f'models_debug:\n  load_delay_ms: {delay_ms}\n')
    return Server('--config', cfg, '--models-dir', d, '-c', 256, '--parallel', 2, '-t', 1,
                  '--memory-reserve', 0, *args, model=None)


def post(port, path, body, headers=None, timeout=120):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    c.request('POST', path, json.dumps(body), {'Content-Type': 'application/json', **(headers or {})})
    r = c.getresponse()
    text = r.read().decode('utf-8', 'replace')
    c.close()
    try:
        j = json.loads(text)
    except ValueError:
        j = text
    return r.status, j, {k.lower(): v for k, v in r.getheaders()}


def state(port, model):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    c.request('GET', '/admin/status', headers=admin_headers())
    j = json.loads(c.getresponse().read())
    c.close()
    return {m['id']: m['state'] for m in j['models']}.get(model)


def wait_state(port, model, want, limit=60):
    t0 = time.time()
    while time.time() - t0 < limit:
        if state(port, model) == want:
            return time.time()
        time.sleep(0.05)
    raise AssertionError(f'{model} never reached {want}: {state(port, model)}')


def retry_after(h):
    ra = h.get('retry-after')
    assert ra and ra.isdigit() and 1 <= int(ra) <= 59, h
    return int(ra)


@test
def every_dialect_answers_503_model_loading_while_the_admin_api_loads():
    d = store()
    try:
        with serve(d, 10000, '--load-wait', 0) as s:
            done = {}
            t = threading.Thread(target=lambda: done.update(r=post(
                s.port, '/admin/models/load', {'model': 'llama-q8_0'}, admin_headers())))
            t.start()
            wait_state(s.port, 'llama-q8_0', 'loading')
            # WebSocket: an error frame, the socket stays open
            env = dict(os.environ, CHECK='ws', WS_URL=f'ws://127.0.0.1:{s.port}/v1/realtime', MODEL='llama-q8_0')
            results, out = run_driver('loading.mjs', env, timeout=60)
            assert results == {'ws_gets_a_503_model_loading_frame_and_the_socket_stays_open': None}, out[-2000:]
            # OpenAI, plain and streamed: refused before any stream starts
            for stream in (False, True):
                st, j, h = post(s.port, '/v1/chat/completions',
                                {'model': 'llama-q8_0', 'messages': MSG, 'max_tokens': 4, 'stream': stream})
                assert st == 503 and j['error']['code'] == 'model_loading', (st, j)
                assert j['error']['param'] == 'model' and 'loading' in j['error']['message'], j
                assert not h.get('content-type', '').startswith('text/event-stream'), h
                retry_after(h)
            # Anthropic: its own error shape
            st, j, h = post(s.port, '/v1/messages', {'model': 'llama-q8_0', 'max_tokens': 4, 'messages': MSG})
            assert st == 503 and j['type'] == 'error' and j['error']['type'] == 'overloaded_error', (st, j)
            retry_after(h)
            # Ollama: {"error": "..."}
            st, j, h = post(s.port, '/api/chat', {'model': 'llama-q8_0', 'messages': MSG, 'stream': False})
            assert st == 503 and isinstance(j['error'], str) and 'loading' in j['error'], (st, j)
            retry_after(h)
            # ... also with a keep_alive (a load that sets the model's ttl)
            st, j, h = post(s.port, '/api/chat', {'model': 'llama-q8_0', 'messages': MSG, 'stream': False,
                                                  'keep_alive': '5m'})
            assert st == 503 and 'loading' in j['error'], (st, j)
            retry_after(h)
            # LM Studio's REST API
            st, j, h = post(s.port, '/api/v0/chat/completions',
                            {'model': 'llama-q8_0', 'messages': MSG, 'max_tokens': 4})
            assert st == 503 and j['error']['code'] == 'model_loading', (st, j)
            retry_after(h)
            assert state(s.port, 'llama-q8_0') == 'loading', 'the load ended before the checks: they proved nothing'
            # the admin load itself waits for its load, and then the model answers
            t.join(60)
            assert done['r'][0] == 200, done
            st, j, _ = post(s.port, '/v1/chat/completions', {'model': 'llama-q8_0', 'messages': MSG, 'max_tokens': 4})
            assert st == 200, (st, j)
            s.stop()
    finally:
        shutil.rmtree(d)


@test
def an_on_demand_load_holds_a_request_at_most_load_wait_with_an_honest_retry_after():
    d = store()
    try:
        with serve(d, 4000, '--load-wait', 1) as s:
            t0 = time.time()
            st, j, h = post(s.port, '/v1/chat/completions', {'model': 'llama-q8_0', 'messages': MSG, 'max_tokens': 4})
            waited = time.time() - t0
            assert st == 503 and j['error']['code'] == 'model_loading', (st, j)
            assert 0.9 <= waited < 10, waited  # held for load_wait, not for the load
            ra = retry_after(h)
            # the load goes on without the request; how long it really took after the 503
            left = wait_state(s.port, 'llama-q8_0', 'ready') - (t0 + waited)
            assert left > 0.5, ('the load ended with the 503: the test proved nothing', left)
            # honest: not far from what was left (the progress rate of the first second)
            assert left / 3 - 1 <= ra <= left * 3 + 2, (ra, left)
            st, j, _ = post(s.port, '/v1/chat/completions', {'model': 'llama-q8_0', 'messages': MSG, 'max_tokens': 4})
            assert st == 200, (st, j)
            s.stop()
    finally:
        shutil.rmtree(d)


@test
def a_short_load_is_simply_waited_for():
    d = store()
    try:
        with serve(d, 1500, '--load-wait', 30) as s:
            t0 = time.time()
            st, j, _ = post(s.port, '/v1/chat/completions', {'model': 'llama-q8_0', 'messages': MSG, 'max_tokens': 4})
            assert st == 200 and j['model'] == 'llama-q8_0', (st, j)
            assert time.time() - t0 >= 1.4, 'the load was not slowed: the test proved nothing'
            s.stop()
    finally:
        shutil.rmtree(d)


@test
def openai_sdk_retry_recovers_from_model_loading():
    d = store()
    try:
        with serve(d, 3000, '--load-wait', 1) as s:
            env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL='llama-f32')
            results, out = run_driver('loading.mjs', dict(env, CHECK='sdk'), timeout=120)
            assert results == {'sdk_retry_recovers_from_model_loading': None}, out[-3000:]
            s.stop()
            statuses = [json.loads(l).get('status') for l in s.logs().splitlines()
                        if l.startswith('{') and '"/v1/chat/completions"' in l]
            assert 503 in statuses and statuses[-1] == 200, statuses
    finally:
        shutil.rmtree(d)


if __name__ == '__main__':
    main()
