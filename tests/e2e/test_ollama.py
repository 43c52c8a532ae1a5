#!/usr/bin/env python3
"""Ollama's native API on lmx serve: the `ollama` npm client library
(node/ollama.mjs) against the daemon's --ollama-port, each client check
reported as one test here, plus wire-level checks (NDJSON framing, the root
probe, both ports, Ollama's error shape under overload).

Pull with progress (from a fake Hugging Face hub, tests/e2e/fakehub.py), JIT
load of the pulled model, keep_alive 0 and delete run through the model
manager and the downloader."""
import json, os, shutil, subprocess, sys, threading

from fakehub import single_model_hub
from harness import main, test
from harness import admin_key
from server_util import MODEL, Server, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, 'node')


def ensure_sdk():
    if os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'ollama')):
        return
    npm = shutil.which('npm')
    assert npm, 'npm is not installed (scripts/install-deps.sh installs it)'
    subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=NODE_DIR, check=True, stdout=subprocess.DEVNULL,
                   timeout=300)

_results = None


def results():
    global _results
    if _results is None:
        ensure_sdk()
        oport = free_port()
        hub = single_model_hub()
        env_extra = {'PULL': hub.pull_name}
        models_dir = f'/tmp/lmx-ollama-models-{oport}'
        os.makedirs(models_dir, exist_ok=True)
        srv_env = dict(os.environ, HOME=models_dir)
        if hub:
            srv_env['HF_ENDPOINT'] = hub.url
        with Server('--parallel', 2, '-c', 1024, '-t', 1, '--ollama-port', oport, env=srv_env) as s:
            env = dict(os.environ, HOST=f'http://127.0.0.1:{oport}', MODEL=MODEL, ADMIN_KEY=admin_key() or '',
                       **env_extra)
            p = subprocess.run(['node', os.path.join(NODE_DIR, 'ollama.mjs')], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=600)
            rc = s.stop()
            log = s.logs()
        if hub:
            hub.close()
        _results = {}
        name = None
        for line in p.stdout.splitlines():
            if line.startswith('ok '):
                _results[line[3:].strip()] = None
            elif line.startswith('FAIL '):
                name, _, why = line[5:].partition(':')
                _results[name] = why
            elif line.startswith('    ') and name:
                _results[name] += '\n' + line
        if not _results:
            raise AssertionError(p.stdout[-3000:])
        _results['daemon_exits_cleanly'] = None if rc == 0 else f'exit {rc}: {log[-3000:]}'
    return _results


_store_results = None


def store_results():
    """ollama.mjs's STORE checks against a daemon started without -m whose
    --models-dir holds stories260K (a symlink): JIT loading, keep_alive."""
    global _store_results
    if _store_results is None:
        ensure_sdk()
        oport = free_port()
        from server_util import STORIES
        d = f'/tmp/lmx-ollama-store-{oport}'
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        os.symlink(os.path.abspath(STORIES), os.path.join(d, f'{MODEL}.gguf'))
        try:
            with Server('-c', 1024, '-t', 1, '--models-dir', d, '--ollama-port', oport, model=None,
                        env=dict(os.environ, HOME=d)) as s:
                env = dict(os.environ, HOST=f'http://127.0.0.1:{oport}', MODEL=MODEL, STORE='1',
                           ADMIN_KEY=admin_key() or '')
                p = subprocess.run(['node', os.path.join(NODE_DIR, 'ollama.mjs')], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=300)
                rc = s.stop()
                log = s.logs()
        finally:
            shutil.rmtree(d, ignore_errors=True)
        _store_results = parse_results(p.stdout)
        for k, v in _store_results.items():  # a failed check shows the daemon's side too
            if v is not None:
                _store_results[k] = f'{v}\n--- server log (tail):\n{log[-2500:]}'
        _store_results['store_daemon_exits_cleanly'] = None if rc == 0 else f'exit {rc}: {log[-3000:]}'
    return _store_results


def parse_results(stdout):
    out, name = {}, None
    for line in stdout.splitlines():
        if line.startswith('ok '):
            out[line[3:].strip()] = None
        elif line.startswith('FAIL '):
            name, _, why = line[5:].partition(':')
            out[name] = why
        elif line.startswith('    ') and name:
            out[name] += '\n' + line
    if not out:
        raise AssertionError(stdout[-3000:])
    return out


def client_check(name, source=None):
    def fn():
        r = (source or results)()
        assert name in r, f'{name} did not run: {sorted(r)}'
        assert r[name] is None, r[name]
    fn.__name__ = f'ollama_js_{name}'
    test(fn)


for n in ('version', 'list_tags', 'ps', 'show', 'chat', 'chat_stream_matches', 'generate', 'generate_raw',
          'options_mapped', 'keep_alive_accepted', 'load_request', 'embed', 'errors', 'daemon_exits_cleanly'):
    client_check(n)

for n in ('store_listed_not_loaded', 'store_jit_load_with_keep_alive', 'store_keep_alive_0_unloads_after_the_request',
          'store_embed_jit_loads', 'store_daemon_exits_cleanly'):
    client_check(n, store_results)

for n in ('pull_progress', 'pulled_listed_and_jit_loaded', 'keep_alive_0_unloads', 'pull_not_streamed',
          'delete', 'pull_unknown_repo'):
    client_check(n)


def ndjson(raw):
    assert raw.endswith('\n'), raw[-200:]
    return [json.loads(line) for line in raw.split('\n')[:-1]]


@test
def wire_root_probe_and_both_ports():
    oport = free_port()
    with Server('-t', 1, '--ollama-port', oport) as s:
        for port in (s.port, oport):
            import http.client
            for method in ('GET', 'HEAD'):
                c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
                c.request(method, '/')
                r = c.getresponse()
                body = r.read().decode()
                c.close()
                assert r.status == 200, (port, method, r.status)
                assert r.getheader('Content-Type').startswith('text/plain')
                assert body == ('Ollama is running' if method == 'GET' else ''), body
        # every API answers on both ports
        s2 = Server.__new__(Server)
        s2.port = oport
        for srv in (s, s2):
            st, j, _, _ = srv.request('GET', '/api/tags')
            assert st == 200 and j['models'][0]['name'] == f'{MODEL}:latest', j
            st, j, _, _ = srv.request('GET', '/v1/models')
            assert st == 200 and j['data'][0]['id'] == MODEL, j
        assert s.stop() == 0
        assert 'listening for Ollama clients' in s.logs()


@test
def wire_ndjson_stream_default():
    with Server('-t', 1) as s:
        c = s.conn()
        c.request('POST', '/api/chat', body=json.dumps({'model': MODEL, 'messages': [{'role': 'user', 'content': 'Hi'}],
                                                       'options': {'num_predict': 4, 'temperature': 0}}))
        r = c.getresponse()
        assert r.status == 200
        assert r.getheader('Content-Type') == 'application/x-ndjson'
        lines = ndjson(r.read().decode())
        c.close()
        assert all(not l['done'] for l in lines[:-1]) and lines[-1]['done'], lines
        assert lines[-1]['done_reason'] in ('stop', 'length')
        for l in lines:
            assert set(l) >= {'model', 'created_at', 'message', 'done'}, l
        assert lines[-1]['eval_count'] == len([l for l in lines[:-1]]) or lines[-1]['eval_count'] >= 1
        # stream: false is one object
        st, j, r, _ = s.post('/api/generate', {'model': MODEL, 'prompt': 'Hi', 'stream': False,
                                               'options': {'num_predict': 3}})
        assert st == 200 and j['done'] is True and isinstance(j['response'], str), j
        assert r.getheader('Content-Type') == 'application/json'


@test
def wire_format_maps_to_response_format():
    # format "json" / a schema becomes response_format; until constrained decoding
    # lands the OpenAI layer refuses it, in Ollama's error shape
    with Server('-t', 1) as s:
        for fmt in ('json', {'type': 'object', 'properties': {'a': {'type': 'string'}}}):
            st, j, _, text = s.post('/api/chat', {'model': MODEL, 'stream': False, 'format': fmt,
                                                  'messages': [{'role': 'user', 'content': 'Hi'}],
                                                  'options': {'num_predict': 3}})
            if st == 200:
                assert j['done'] is True, j
            else:
                assert st == 400 and isinstance(j['error'], str) and 'response_format' in j['error'], text
        st, j, _, _ = s.post('/api/chat', {'model': MODEL, 'format': 'yaml', 'messages': [{'role': 'user', 'content': 'x'}]})
        assert st == 400 and 'format' in j['error'], j


@test
def wire_errors_are_ollama_shaped():
    with Server('-t', 1) as s:
        st, j, _, _ = s.post('/api/chat', {'model': 'nope', 'messages': []})
        assert st == 404 and j == {'error': 'model "nope" not found, try pulling it first'}, j
        st, j, _, _ = s.request('POST', '/api/chat', raw='{nope')
        assert st == 400 and isinstance(j['error'], str), j
        st, j, _, _ = s.request('GET', '/api/chat')
        assert st == 405 and isinstance(j['error'], str), j
        st, j, _, _ = s.post('/api/pull', {'model': 'llama3'})
        assert st == 400 and 'hf.co/' in j['error'], j
        st, j, _, _ = s.post('/api/generate', {'model': MODEL, 'prompt': 'x', 'options': 'hot'})
        assert st == 400 and 'options' in j['error'], j
        # an unknown /api/* route: 404 in Ollama's shape (its client prints the string)
        st, j, _, _ = s.post('/api/embedz', {'model': MODEL})
        assert st == 404 and list(j) == ['error'] and isinstance(j['error'], str) and '/api/embedz' in j['error'], j
        st, j, _, _ = s.request('GET', '/api/v0/nothing')  # LM Studio's prefix keeps its shape
        assert st == 404 and isinstance(j['error'], dict), j
        # logprobs are refused, not silently dropped
        for path, body in (('/api/chat', {'messages': [{'role': 'user', 'content': 'x'}], 'logprobs': True}),
                           ('/api/generate', {'prompt': 'x', 'logprobs': True, 'top_logprobs': 2})):
            st, j, _, _ = s.post(path, {'model': MODEL, 'stream': False, **body})
            assert st == 400 and 'logprobs' in j['error'] and '/v1/chat/completions' in j['error'], (path, j)


@test
def wire_overload_is_429_with_retry_after():
    # one decoding slot and one queue place: while a long generation holds the
    # slot and another request waits, an Ollama request is refused as the
    # OpenAI routes are, in Ollama's error shape
    with Server('--parallel', 1, '--queue', 1, '-c', 2048, '-t', 1) as s:
        c = s.conn()
        c.request('POST', '/v1/completions', body=json.dumps({
            'model': MODEL, 'prompt': 'Once', 'max_tokens': 2000, 'logit_bias': {'2': -100}, 'stream': True}),
            headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        assert r.status == 200
        r.readline()  # the generation is running
        waiting = threading.Thread(target=s.post, args=('/api/generate', {
            'model': MODEL, 'prompt': 'x', 'stream': False, 'options': {'num_predict': 2}}))
        waiting.start()
        import time
        time.sleep(0.5)
        st, j, resp, _ = s.post('/api/chat', {'model': MODEL, 'stream': False, 'messages': [{'role': 'user', 'content': 'x'}]})
        c.close()
        waiting.join()
        assert st == 429, (st, j)
        assert isinstance(j['error'], str) and 'busy' in j['error'], j
        ra = resp.getheader('Retry-After')  # from the queue's drain rate (docs/overload.md)
        assert ra and ra.isdigit() and 1 <= int(ra) <= 59, ra


@test
def wire_tools_and_tool_history_reach_the_template():
    # the synthetic Qwen-vocabulary model has Qwen 2.5's chat template (tools):
    # Ollama-shaped tool calls (arguments as objects) and tool results render
    from harness import SHARED
    qwen = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
    tools = [{'type': 'function', 'function': {'name': 'get_weather', 'description': 'Weather in a city.',
              'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}}}]
    msgs = [{'role': 'user', 'content': 'Weather in Paris?'},
            {'role': 'assistant', 'content': '', 'tool_calls': [
                {'function': {'name': 'get_weather', 'arguments': {'city': 'Paris'}}}]},
            {'role': 'tool', 'tool_name': 'get_weather', 'content': '{"temp_c": 21}'},
            {'role': 'user', 'content': 'And Lyon?'}]
    with Server('-t', 1, '-c', 2048, model=qwen) as s:
        st, j, _, _ = s.post('/api/show', {'model': 'qwen2-vocab-q8_0'})
        assert st == 200 and 'tools' in j['capabilities'], j.get('capabilities')
        assert 'tools' in j['template'], j['template'][:200]
        base = {'model': 'qwen2-vocab-q8_0', 'tools': tools, 'options': {'num_predict': 3, 'temperature': 0}}
        st, j, _, _ = s.post('/api/chat', {**base, 'messages': msgs, 'stream': False})
        assert st == 200 and j['done'] is True and j['message']['role'] == 'assistant', j
        assert 'tool_calls' not in j['message'] or all(isinstance(c['function']['arguments'], dict)
                                                        for c in j['message']['tool_calls']), j
        c = s.conn()
        c.request('POST', '/api/chat', body=json.dumps({**base, 'messages': msgs}))
        r = c.getresponse()
        lines = ndjson(r.read().decode())
        c.close()
        assert r.status == 200 and lines[-1]['done'] is True, lines
        st, j, _, _ = s.request('GET', '/api/v0/models/qwen2-vocab-q8_0')
        assert j['capabilities'] == ['tool_use'], j
        st, j, _, _ = s.request('GET', '/api/v1/models')
        assert j['models'][0]['capabilities']['trained_for_tool_use'] is True, j


@test
def wire_api_key_applies():
    with Server('-t', 1, '--api-key', 'k1') as s:
        st, j, _, _ = s.request('GET', '/api/tags')
        assert st == 401 and isinstance(j['error'], str), j
        st, j, _, _ = s.request('GET', '/api/tags', headers={'Authorization': 'Bearer k1'})
        assert st == 200, j
        # the probes stay open: clients check them before they have a key
        st, _, _, text = s.request('GET', '/')
        assert st == 200 and text == 'Ollama is running'
        st, j, _, _ = s.request('GET', '/api/version')
        assert st == 200 and j['version']


if __name__ == '__main__':
    main()
