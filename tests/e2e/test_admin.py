#!/usr/bin/env python3
"""The admin API's model manager, driven over HTTP (urllib) against the real
daemon and a temporary models directory holding symlinks to ../shared/models
files (copies only for the files a test damages): listing, load / unload /
delete, name validation, incomplete files, memory admission, eviction,
on-demand loads, TTL, aliases, the ledger, probes, restarts and access."""
import json, os, shutil, tempfile, time, urllib.error, urllib.request

from harness import SHARED, STORIES, admin_headers, admin_key, main, test
from server_util import Server, gguf_with_template

SYNTH = os.path.join(SHARED, 'models', 'synth')


def store(*names):
    """A temporary models dir with symlinks: stories260K plus synth models by name."""
    d = tempfile.mkdtemp(prefix='lmx-admin-')
    os.symlink(os.path.realpath(STORIES), os.path.join(d, 'stories260K.gguf'))
    for n in names:
        os.symlink(os.path.realpath(os.path.join(SYNTH, n + '.gguf')), os.path.join(d, n + '.gguf'))
    return d


def call(s, method, path, body=None, headers=None, timeout=120):
    """(status, json) of one request via urllib."""
    data = json.dumps(body).encode() if body is not None else None
    h = {'Content-Type': 'application/json', **(admin_headers() if headers is None else headers)}
    req = urllib.request.Request(f'http://127.0.0.1:{s.port}{path}', data=data, method=method,
                                 headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def chat(s, model, **kw):
    return call(s, 'POST', '/v1/chat/completions',
                {'model': model, 'messages': [{'role': 'user', 'content': 'Once upon a time'}],
                 'max_tokens': 4, **kw})


def loaded_ids(s):
    st, j = call(s, 'GET', '/admin/status')
    assert st == 200, j
    return {m['id']: m for m in j['models']}


def code(j):
    return j['error']['code']


def serve(d, *args):
    return Server('--models-dir', d, '-c', 256, '--parallel', 2, '-t', 1, '--memory-reserve', 0, *args, model=None)


@test
def listing_names_dropped_files_and_splits_not_parts():
    d = store('llama-q8_0')
    try:
        open(os.path.join(d, 'half.gguf.part'), 'wb').write(b'GGUF')
        os.makedirs(os.path.join(d, 'sub'))
        os.symlink(os.path.realpath(STORIES), os.path.join(d, 'sub', 'nested.gguf'))
        for k in (1, 2):
            os.symlink(os.path.realpath(STORIES), os.path.join(d, f'big-0000{k}-of-00002.gguf'))
        with serve(d) as s:
            st, j = call(s, 'GET', '/admin/models')
            assert st == 200 and j['object'] == 'list', j
            by = {m['id']: m for m in j['data']}
            assert set(by) == {'stories260K', 'llama-q8_0', 'sub/nested', 'big'}, sorted(by)
            m = by['stories260K']
            assert m['architecture'] == 'llama' and m['quantization'] == 'F32', m
            assert m['parameters'] > 0 and m['context_length'] == 2048, m
            assert m['size_bytes'] == os.path.getsize(STORIES) and m['loaded'] is False, m
            assert m['source'] is None and m['sha256'] is None, m
            assert len(by['big']['files']) == 2, by['big']
            st, one = call(s, 'GET', '/admin/models/sub/nested')
            assert st == 200 and one['id'] == 'sub/nested' and one['loaded'] is None, one
            st, j = call(s, 'GET', '/admin/models/nope')
            assert st == 404 and code(j) == 'model_not_found', j
    finally:
        shutil.rmtree(d)


@test
def load_unload_delete():
    d = store('llama-q8_0')
    try:
        with serve(d) as s:
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'llama-q8_0', 'ctx_size': 128})
            assert st == 200, j
            assert j['id'] == 'llama-q8_0' and j['state'] == 'ready' and j['context_length'] == 128, j
            assert j['memory_bytes'] > 0 and j['parallel'] == 2, j
            st, j = call(s, 'GET', '/v1/models')
            assert [m['id'] for m in j['data'] if m['loaded']] == ['llama-q8_0'], j
            st, j = chat(s, 'llama-q8_0')
            assert st == 200 and j['model'] == 'llama-q8_0', j
            st, j = call(s, 'DELETE', '/admin/models/llama-q8_0')
            assert st == 409 and code(j) == 'model_loaded', j
            st, j = call(s, 'POST', '/admin/models/unload', {'model': 'llama-q8_0'})
            assert st == 200 and j == {'id': 'llama-q8_0', 'state': 'unloaded'}, j
            assert 'llama-q8_0' not in loaded_ids(s)
            st, j = call(s, 'POST', '/admin/models/unload', {'model': 'llama-q8_0'})
            assert st == 404 and code(j) == 'model_not_found', j
            st, j = call(s, 'DELETE', '/admin/models/llama-q8_0')
            assert st == 200 and j == {'id': 'llama-q8_0', 'deleted': True}, j
            assert not os.path.lexists(os.path.join(d, 'llama-q8_0.gguf'))
            assert os.path.exists(os.path.join(SYNTH, 'llama-q8_0.gguf'))  # the link, not its target
            st, j = call(s, 'GET', '/admin/models')
            assert [m['id'] for m in j['data']] == ['stories260K'], j
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'llama-q8_0'})
            assert st == 404 and code(j) == 'model_not_found', j
            os.makedirs(os.path.join(d, 'org', 'repo'))
            os.symlink(os.path.realpath(STORIES), os.path.join(d, 'org', 'repo', 'm.gguf'))
            st, j = call(s, 'DELETE', '/admin/models/org/repo/m')
            assert st == 200 and j['id'] == 'org/repo/m', j
            assert not os.path.exists(os.path.join(d, 'org')), os.listdir(d)  # emptied dirs go
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K', 'parallel': 0})
            assert st == 400 and j['error']['param'] == 'parallel', j
    finally:
        shutil.rmtree(d)


@test
def deletes_never_go_through_a_directory_link_and_link_loops_list_once():
    """A directory link is followed for reading only: deleting a model listed
    through it is a 409 that touches nothing; `loop -> .` lists nothing twice."""
    d = store()
    outside = tempfile.mkdtemp(prefix='lmx-outside-')
    try:
        victim = os.path.join(outside, 'x.gguf')
        shutil.copyfile(STORIES, victim)
        os.symlink(outside, os.path.join(d, 'dirlink'))
        os.symlink('.', os.path.join(d, 'loop'))
        os.makedirs(os.path.join(d, 'sub'))
        os.symlink('..', os.path.join(d, 'sub', 'up'))
        os.symlink(os.path.join(d, 'sub'), os.path.join(d, 'sublink'))  # a second way to sub/
        with serve(d) as s:
            st, j = call(s, 'GET', '/admin/models')
            assert st == 200, j
            ids = sorted(m['id'] for m in j['data'])
            assert ids == ['dirlink/x', 'stories260K'], ids
            st, j = call(s, 'GET', '/admin/models/dirlink/x')  # readable through the link
            assert st == 200 and j['architecture'] == 'llama', j
            st, j = call(s, 'DELETE', '/admin/models/dirlink/x')
            assert st == 409 and code(j) == 'model_outside_store', j
            assert 'dirlink' in j['error']['message'], j
            st, j = call(s, 'DELETE', '/api/delete', {'model': 'dirlink/x'})  # Ollama's delete
            assert st == 409, (st, j)
            assert os.path.exists(victim), 'a delete went through the directory link'
            st, j = call(s, 'DELETE', '/admin/models/stories260K')  # a file link: the link goes
            assert st == 200, j
            assert os.path.exists(STORIES) and not os.path.lexists(os.path.join(d, 'stories260K.gguf'))
    finally:
        shutil.rmtree(d)
        shutil.rmtree(outside)


@test
def hostile_templates_cost_bounded_time_and_are_client_errors():
    """A template over its operation budget on one message is refused at load;
    one that explodes on a longer conversation, or fails at run time, is a 422
    naming the model's template, in bounded time, never a 500."""
    d = store()
    try:
        nested = '{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}'
        gguf_with_template(STORIES, os.path.join(d, 'nested.gguf'), nested)
        later = ('{% for m in messages %}{% if loop.index > 1 %}{% for a in range(100000) %}'
                 '{% for b in range(100000) %}{% endfor %}{% endfor %}{% endif %}'
                 '{{ m.role }}: {{ m.content }}\n{% endfor %}')
        gguf_with_template(STORIES, os.path.join(d, 'later.gguf'), later)
        gguf_with_template(STORIES, os.path.join(d, 'broken.gguf'),
                           '{% for m in messages %}{{ m.content }}{% endfor %}{{ no_such_function(1) }}')
        with serve(d) as s:
            t0 = time.time()
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'nested'})
            assert st == 422 and 'budget' in j['error']['message'], (st, j)
            assert time.time() - t0 < 20, time.time() - t0
            two = [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'},
                   {'role': 'user', 'content': 'c'}]
            for _ in range(2):  # every request, not just the first
                t0 = time.time()
                st, j = call(s, 'POST', '/v1/chat/completions', {'model': 'later', 'messages': two, 'max_tokens': 2})
                assert st == 422 and code(j) == 'chat_template_budget_exceeded', (st, j)
                assert "'later'" in j['error']['message'] and 'chat_template' in j['error']['message'], j
                assert time.time() - t0 < 20, time.time() - t0
            st, j = call(s, 'POST', '/v1/chat/completions',
                         {'model': 'later', 'messages': two[:1], 'max_tokens': 2})
            assert st == 200, (st, j)  # one message costs nothing
            st, j = call(s, 'POST', '/v1/chat/completions',
                         {'model': 'broken', 'messages': two[:1], 'max_tokens': 2})
            assert st == 422 and code(j) == 'chat_template_error', (st, j)
            assert 'no_such_function' in j['error']['message'], j
    finally:
        shutil.rmtree(d)


@test
def path_traversal_refused():
    d = store()
    try:
        secret = os.path.join(os.path.dirname(d), 'outside.gguf')
        with serve(d) as s:
            for name in ['../outside', '../../etc/passwd', '/etc/passwd', 'a/../../x', './stories260K',
                         'a\\..\\b', 'bad\x01name', '.lmx/registry', 'org/.hidden:Q8_0']:
                st, j = call(s, 'POST', '/admin/models/load', {'model': name})
                assert st == 400 and code(j) == 'invalid_model_name', (name, st, j)
                st, j = call(s, 'POST', '/admin/models/unload', {'model': name})
                assert st == 400, (name, st, j)
            st, j = call(s, 'GET', '/admin/models/..%2F..%2Fetc%2Fpasswd')
            assert st == 400 and code(j) == 'invalid_model_name', j
            st, j = call(s, 'DELETE', '/admin/models/..%2Foutside')
            assert st == 400 and code(j) == 'invalid_model_name', j
            # a decoded NUL would cut the name to 'stories260K' (and a DELETE act on it)
            for method in ('GET', 'DELETE'):
                for path in ('/admin/models/stories260K%00x', '/admin/models/stories260K%0A'):
                    st, j = call(s, method, path)
                    assert st == 400 and code(j) == 'invalid_path', (method, path, st, j)
            assert os.path.lexists(os.path.join(d, 'stories260K.gguf'))
            st, j = chat(s, '../stories260K')
            assert st == 404, j
            # a repository or file whose name starts with a dot would land in a hidden
            # directory (the store's own .lmx/downloads/ among them): refused up front
            for body, param in [({'repo': '.lmx/downloads'}, 'repo'), ({'repo': 'org/.hidden'}, 'repo'),
                                ({'repo': 'org/name', 'file': '.lmx/x.gguf'}, 'file')]:
                st, j = call(s, 'POST', '/admin/models/download', body)
                assert st == 400 and j['error']['param'] == param, (body, st, j)
        assert not os.path.exists(secret)
    finally:
        shutil.rmtree(d)


@test
def truncated_gguf_is_model_incomplete_and_ledgered():
    d = store()
    try:
        data = open(STORIES, 'rb').read()
        open(os.path.join(d, 'cut.gguf'), 'wb').write(data[:len(data) // 2])
        with serve(d) as s:
            st, j = call(s, 'GET', '/admin/models/cut')
            assert st == 200 and 'error' in j, j
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'cut'})
            assert st == 422 and code(j) == 'model_incomplete', j
            st, j = chat(s, 'cut')
            assert st == 422 and code(j) == 'model_incomplete', j
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K'})
            assert st == 200, j
            st, j = call(s, 'GET', '/admin/ledger')
            assert st == 200 and j['object'] == 'list', j
            rows = j['data']
            bad = [r for r in rows if r['model'] == 'cut']
            assert bad and all(r['result'] == 'failed' for r in bad), rows
            assert 'runs past the end' in bad[0]['reason'] or 'truncated' in bad[0]['reason'], bad
            good = [r for r in rows if r['model'] == 'stories260K']
            assert good and good[-1]['result'] == 'ok' and good[-1]['engine_version'], rows
            assert isinstance(good[-1]['time'], int) and good[-1]['file'].endswith('stories260K.gguf')
            assert good[-1]['size_bytes'] == os.path.getsize(STORIES) and good[-1]['mtime'] > 0, good
            assert bad[0]['size_bytes'] == len(data) // 2, bad
    finally:
        shutil.rmtree(d)


@test
def canary_catches_non_finite_weights():
    d = store()
    try:
        data = bytearray(open(STORIES, 'rb').read())
        n = len(data)
        data[n // 2:] = b'\xff' * (n - n // 2)  # NaN floats
        open(os.path.join(d, 'nan.gguf'), 'wb').write(bytes(data))
        with serve(d) as s:
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'nan'})
            assert st == 422 and code(j) == 'model_canary_failed', j
            assert loaded_ids(s)['nan']['state'] == 'failed'
            assert 'canary' in loaded_ids(s)['nan']['reason']
            st, j = call(s, 'GET', '/v1/models')
            assert [m for m in j['data'] if m['loaded']] == [], j
    finally:
        shutil.rmtree(d)


@test
def run_time_failures_quarantine_the_model():
    """-m skips the canary, so a model with NaN weights reaches requests: each fails with
    non-finite logits; the third within the window quarantines it (409 model_unstable) until a
    load, which reloads it (and here the canary then refuses it)."""
    d = store()
    try:
        data = bytearray(open(STORIES, 'rb').read())
        n = len(data)
        data[n // 2:] = b'\xff' * (n - n // 2)
        bad = os.path.join(d, 'outside')
        os.makedirs(bad)
        bad = os.path.join(bad, 'nanm.gguf')
        open(bad, 'wb').write(bytes(data))
        with Server('--models-dir', d, '-c', 256, '--parallel', 2, '-t', 1, model=bad) as s:
            for i in range(3):
                st, j = chat(s, 'nanm')
                assert st >= 500 and 'non-finite logits' in j['error']['message'], (i, st, j)
            st, j = chat(s, 'nanm')
            assert st == 409 and code(j) == 'model_unstable', j
            e = loaded_ids(s)['nanm']
            assert e['state'] == 'quarantined' and 'non-finite logits' in e['reason'], e
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'nanm'})
            assert st == 422 and code(j) == 'model_canary_failed', j
    finally:
        shutil.rmtree(d)


@test
def memory_limit_refuses_with_numbers_and_keeps_serving():
    d = store('llama-f32')
    try:
        with Server('--models-dir', d, '-c', 256, '--parallel', 2, '-t', 1, '--memory-limit', '8M',
                    model=STORIES) as s:
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'llama-f32'})
            assert st == 507 and code(j) == 'insufficient_memory', j
            msg = j['error']['message']
            assert 'needed' in msg and 'available' in msg and 'limit 8388608 bytes' in msg, msg
            st, j = chat(s, 'stories260K')  # the -m model keeps serving
            assert st == 200 and j['choices'][0]['message']['content'] is not None, j
            st, m = call(s, 'GET', '/admin/memory')
            assert st == 200 and m['limit_bytes'] == 8 << 20 and m['source'] == 'config', m
            assert [x['id'] for x in m['models']] == ['stories260K'] and m['used_by_models_bytes'] > 0, m
            st, j = call(s, 'GET', '/admin/ledger')
            assert any(r['model'] == 'llama-f32' and r['result'] == 'failed'
                       and 'needed' in r['reason'] for r in j['data'])
    finally:
        shutil.rmtree(d)


@test
def cgroup_limit_refuses_with_numbers():
    d = store('llama-f32')
    root = tempfile.mkdtemp(prefix='lmx-proc-')
    try:
        def put(rel, text):
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            open(p, 'w').write(text)
        put('proc/meminfo', 'MemTotal: 64000000 kB\nMemAvailable: 32000000 kB\n')
        put('proc/self/cgroup', '0::/lmx.slice/serve\n')
        put('sys/fs/cgroup/lmx.slice/serve/memory.max', 'max\n')
        put('sys/fs/cgroup/lmx.slice/memory.max', str(40 << 20) + '\n')
        put('sys/fs/cgroup/lmx.slice/memory.current', str(30 << 20) + '\n')
        put('sys/fs/cgroup/lmx.slice/memory.stat', 'anon 1\ninactive_file %d\n' % (4 << 20))
        os.environ['LMX_PROC_ROOT'] = root
        try:
            s = serve(d)
        finally:
            del os.environ['LMX_PROC_ROOT']
        with s:
            st, m = call(s, 'GET', '/admin/memory')
            assert m['source'] == 'cgroup' and m['limit_bytes'] == 40 << 20, m
            assert m['available_bytes'] == (40 - 26) << 20, m
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'llama-f32'})
            assert st == 507 and code(j) == 'insufficient_memory', j
            assert f'limit {40 << 20} bytes' in j['error']['message'] and 'from cgroup' in j['error']['message'], j
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K'})
            assert st == 200, j
    finally:
        shutil.rmtree(d)
        shutil.rmtree(root)


@test
def concurrent_loads_share_one_load_and_unload_waits_for_requests():
    import threading
    d = store('llama-q8_0')
    try:
        with serve(d) as s:
            res = []
            ts = [threading.Thread(target=lambda: res.append(
                call(s, 'POST', '/admin/models/load', {'model': 'llama-q8_0'}))) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert [r[0] for r in res] == [200] * 4, res
            st, j = call(s, 'GET', '/admin/ledger')
            assert len([r for r in j['data'] if r['model'] == 'llama-q8_0']) == 1, j
            # a long generation in flight: unload answers only after it finished
            out = {}
            def gen():
                out['chat'] = chat(s, 'llama-q8_0', max_tokens=200)
                out['chat_done'] = time.time()
            t = threading.Thread(target=gen)
            t.start()
            for _ in range(100):
                if loaded_ids(s)['llama-q8_0']['active'] or 'chat' in out:
                    break
                time.sleep(0.02)
            st, j = call(s, 'POST', '/admin/models/unload', {'model': 'llama-q8_0'})
            unloaded = time.time()
            t.join()
            assert st == 200, j
            assert out['chat'][0] == 200, out
            assert out['chat'][1]['usage']['completion_tokens'] > 0, out
            assert unloaded >= out['chat_done'] - 0.05, (unloaded, out['chat_done'])
            assert loaded_ids(s) == {}
    finally:
        shutil.rmtree(d)


def estimates(d, names):
    with serve(d) as s:
        out = {}
        for n in names:
            st, j = call(s, 'POST', '/admin/models/load', {'model': n})
            assert st == 200, j
            out[n] = j['memory_bytes']
        return out


@test
def auto_evict_unloads_least_recently_used():
    names = ['llama-q8_0', 'qwen2-q8_0', 'qwen3-q8_0']
    d = store(*names)
    try:
        mem = estimates(d, names)
        a, b, c = (mem[n] for n in names)
        limit = max(a + b, b + c) + min(a, c) // 2
        assert a + b + c > limit
        with serve(d, '--memory-limit', limit, '--auto-evict') as s:
            for n in names[:2]:
                st, j = call(s, 'POST', '/admin/models/load', {'model': n})
                assert st == 200, j
            time.sleep(1.1)
            st, j = chat(s, names[1])  # names[0] is now the least recently used
            assert st == 200, j
            st, j = call(s, 'POST', '/admin/models/load', {'model': names[2]})
            assert st == 200, j
            ids = loaded_ids(s)
            assert set(ids) == {names[1], names[2]}, ids
            assert 'evicting' in s.logs()
        with serve(d, '--memory-limit', limit, '--no-auto-evict') as s:  # without auto_evict: refused
            for n in names[:2]:
                assert call(s, 'POST', '/admin/models/load', {'model': n})[0] == 200
            st, j = call(s, 'POST', '/admin/models/load', {'model': names[2]})
            assert st == 507 and code(j) == 'insufficient_memory', j
    finally:
        shutil.rmtree(d)


@test
def on_demand_load_by_chat_and_off_switch():
    d = store('llama-q8_0')
    try:
        with serve(d) as s:
            assert loaded_ids(s) == {}
            st, j = chat(s, 'llama-q8_0')
            assert st == 200 and j['model'] == 'llama-q8_0', j
            assert loaded_ids(s)['llama-q8_0']['state'] == 'ready'
        with serve(d, '--no-load-on-demand') as s:
            st, j = chat(s, 'llama-q8_0')
            assert st == 404 and code(j) == 'model_not_found', j
    finally:
        shutil.rmtree(d)


@test
def ttl_unloads_idle_models():
    d = store('llama-q8_0')
    try:
        with serve(d, '--default-ttl', 1) as s:
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K', 'ttl': 600})
            assert st == 200 and j['ttl_s'] == 600 and j['expires_at'] > time.time() + 500, j
            st, j = chat(s, 'llama-q8_0')  # on demand, policy ttl 1 s
            assert st == 200, j
            assert loaded_ids(s)['llama-q8_0']['ttl_s'] == 1
            for _ in range(50):
                if 'llama-q8_0' not in loaded_ids(s):
                    break
                time.sleep(0.1)
            assert set(loaded_ids(s)) == {'stories260K'}, loaded_ids(s)
    finally:
        shutil.rmtree(d)


@test
def listing_models_does_not_keep_them_loaded():
    """Polling the listings (a dashboard, a bot checking what is loaded) is not use:
    a model with a 1 s ttl unloads while /v1/models, /api/ps and /metrics are polled."""
    d = store()
    try:
        with serve(d) as s:
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K', 'ttl': 1})
            assert st == 200, j
            t0 = time.time()
            while time.time() - t0 < 8:
                if 'stories260K' not in loaded_ids(s):
                    break
                for path in ('/v1/models', '/api/ps', '/metrics', '/api/tags', '/api/v1/models'):
                    urllib.request.urlopen(f'http://127.0.0.1:{s.port}{path}', timeout=10).read()
                time.sleep(0.05)
            took = time.time() - t0
            assert 'stories260K' not in loaded_ids(s) and took < 4, (took, loaded_ids(s))
    finally:
        shutil.rmtree(d)


@test
def aliases_and_prefixes_resolve():
    d = store('llama-q8_0', 'qwen2-q8_0')
    try:
        with serve(d, '--alias', 'chat=missing,llama-q8_0,qwen2-q8_0', '--alias', 'code=qwen2-q8_0') as s:
            st, j = chat(s, 'chat')  # the first loadable of the list
            assert st == 200 and j['model'] == 'llama-q8_0', j
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'qwen2-q8_0', 'alias': 'fast'})
            assert st == 200 and set(j['aliases']) == {'fast', 'chat', 'code'}, j
            st, j = chat(s, 'code')
            assert st == 200 and j['model'] == 'qwen2-q8_0', j
            st, j = chat(s, 'fast')
            assert st == 200 and j['model'] == 'qwen2-q8_0', j
            st, j = call(s, 'POST', '/admin/models/unload', {'model': 'llama-q8_0'})
            assert st == 200, j
            st, j = chat(s, 'chat')  # now the first *ready* one wins
            assert st == 200 and j['model'] == 'qwen2-q8_0', j
            for name in ['lmx/stories260K', 'openai/stories260K']:
                st, j = chat(s, name)
                assert st == 200 and j['model'] == 'stories260K', (name, j)
            st, j = chat(s, 'nothing-like-this')
            assert st == 404 and code(j) == 'model_not_found', j
    finally:
        shutil.rmtree(d)


@test
def mlock_loads_and_warns_at_worst():
    d = store()
    try:
        with serve(d, '--mlock') as s:
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K'})
            assert st == 200 and j['state'] == 'ready', j
            assert chat(s, 'stories260K')[0] == 200
    finally:
        shutil.rmtree(d)


@test
def probes_and_status():
    d = store()
    try:
        with serve(d) as s:
            assert call(s, 'GET', '/healthz') == (200, {'status': 'ok'})
            assert call(s, 'GET', '/readyz') == (200, {'status': 'ready'})
            st, j = call(s, 'GET', '/admin/status')
            assert st == 200 and j['version'] and j['uptime_s'] >= 0, j
            assert j['models'] == [] and j['queue_depth'] == 0 and j['active_sequences'] == 0, j
            assert 'tokens_per_second' in j
            st, m = call(s, 'GET', '/admin/memory')
            assert st == 200 and m['available_bytes'] > 0 and m['source'] in ('meminfo', 'cgroup'), m
            assert m['limit_bytes'] >= m['available_bytes'] and m['reserve_bytes'] == 0, m
    finally:
        shutil.rmtree(d)


@test
def registry_and_ledger_survive_restart():
    d = store('llama-q8_0')
    try:
        with serve(d) as s:
            assert call(s, 'POST', '/admin/models/load', {'model': 'llama-q8_0'})[0] == 200
            first = call(s, 'GET', '/admin/models')[1]['data']
            s.stop()
        assert os.path.exists(os.path.join(d, '.lmx', 'registry.db'))
        with serve(d) as s:
            st, j = call(s, 'GET', '/admin/models')
            again = j['data']
            for m in first:
                m['loaded'] = False
            assert again == first, (again, first)
            st, j = call(s, 'GET', '/admin/ledger')
            assert any(r['model'] == 'llama-q8_0' and r['result'] == 'ok' for r in j['data']), j
    finally:
        shutil.rmtree(d)


@test
def admin_access_needs_the_key():
    d = store()
    try:
        with serve(d, '--admin-key', 'sekrit') as s:
            for h in [{}, {'X-Admin-Key': 'wrong'}, {'Authorization': 'Bearer wrong'},
                      admin_headers()]:  # the token is not the configured key
                st, j = call(s, 'GET', '/admin/models', headers=h)
                assert st == 401, (h, st, j)
            st, j = call(s, 'POST', '/admin/models/load', {'model': 'stories260K'},
                         headers={'X-Admin-Key': 'wrong'})
            assert st == 401 and not loaded_ids_with(s, 'sekrit'), j
            for h in [{'X-Admin-Key': 'sekrit'}, {'Authorization': 'Bearer sekrit'}]:
                st, j = call(s, 'GET', '/admin/models', headers=h)
                assert st == 200, (h, st, j)
            assert call(s, 'GET', '/healthz')[0] == 200  # public
        with serve(d) as s:  # no key configured: the state directory's token, never open
            st, j = call(s, 'GET', '/admin/status', headers={})
            assert st == 401 and code(j) == 'invalid_admin_key', (st, j)
            token = admin_key()
            assert token and len(token) == 64, token
            state = os.environ['LMX_STATE_DIR']
            assert os.stat(os.path.join(state, 'admin.token')).st_mode & 0o777 == 0o600
            assert call(s, 'GET', '/admin/status', headers={'X-Admin-Key': token})[0] == 200
            assert call(s, 'GET', '/admin/status', headers={'Authorization': f'Bearer {token}'})[0] == 200
        with serve(d, '--admin-key', 'none') as s:  # explicitly none: loopback clients, as before
            assert call(s, 'GET', '/admin/status', headers={})[0] == 200
    finally:
        shutil.rmtree(d)


def loaded_ids_with(s, key):
    st, j = call(s, 'GET', '/admin/status', headers={'X-Admin-Key': key})
    assert st == 200, j
    return [m['id'] for m in j['models']]


if __name__ == '__main__':
    main()
