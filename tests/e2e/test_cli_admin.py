#!/usr/bin/env python3
"""The admin commands of the `lmx` CLI (ls, ps, load, unload, rm, status) against
a running daemon, with and without --json. The daemon's store is a temporary
directory holding a copy of stories260K.gguf (listed as 'stories260K').

A stand-in server answering with the spec's shapes also pins how the tables
render them."""
import json, os, shutil, sys, tempfile

from harness import STORIES, lmx, main, test
from server_util import Server

MODEL = 'stories260K'
_tmp = tempfile.mkdtemp(prefix='lmx-cli-')
STORE = os.path.join(_tmp, 'store')
os.makedirs(STORE)
shutil.copy(STORIES, os.path.join(STORE, MODEL + '.gguf'))
_daemon = None


def daemon():
    global _daemon
    if _daemon is None:
        _daemon = Server('--models-dir', STORE, '-t', 1, model=None)
    return _daemon


def cli(*args, check=True, key=None):
    env = dict(os.environ, LMX_HOST=f'127.0.0.1:{daemon().port}')
    env.pop('LMX_ADMIN_KEY', None)
    if key:
        env['LMX_ADMIN_KEY'] = key
    return lmx(*args, check=check, env=env)


@test
def ls_lists_the_store_as_a_table_and_as_json():
    p = cli('ls')
    head = p.stdout.splitlines()[0].split()
    assert head[:2] == ['ID', 'SIZE'], p.stdout
    assert any(l.split()[0] == MODEL for l in p.stdout.splitlines()[1:]), p.stdout
    j = json.loads(cli('ls', '--json').stdout)
    assert j['object'] == 'list', j
    m = [x for x in j['data'] if x['id'] == MODEL]
    assert m and m[0]['loaded'] is False, j


@test
def load_ps_status_unload_round_trip():
    p = cli('load', MODEL, '--ctx', 256, '--parallel', 2, '--ttl', 600)
    assert p.stdout.startswith(f'loaded {MODEL}'), p.stdout
    p = cli('ps')
    rows = [l.split() for l in p.stdout.splitlines()]
    assert rows[0][:2] == ['ID', 'STATE'] and any(r[0] == MODEL and r[1] == 'ready' for r in rows[1:]), p.stdout
    ps = json.loads(cli('ps', '--json').stdout)
    m = [x for x in ps['data'] if x['id'] == MODEL]
    assert m and m[0]['state'] == 'ready' and m[0]['context_length'] == 256 and m[0]['parallel'] == 2, ps
    assert m[0]['ttl_s'] == 600 and m[0]['expires_at'], m
    st = json.loads(cli('status', '--json').stdout)
    assert {'version', 'uptime_s', 'models', 'queue_depth', 'active_sequences'} <= set(st), st
    assert MODEL in [x['id'] for x in st['models']], st
    p = cli('status')
    assert 'uptime' in p.stdout and MODEL in p.stdout, p.stdout
    j = json.loads(cli('ls', '--json').stdout)
    assert [x for x in j['data'] if x['id'] == MODEL][0]['loaded'] is True, j
    p = cli('unload', MODEL)
    assert p.stdout.strip() == f'unloaded {MODEL}', p.stdout
    ps = json.loads(cli('ps', '--json').stdout)
    assert MODEL not in [x['id'] for x in ps['data']], ps


@test
def load_json_prints_the_loaded_entry():
    j = json.loads(cli('load', MODEL, '--json', '--alias', 'tiny').stdout)
    assert j['id'] == MODEL and j['state'] == 'ready' and 'tiny' in j['aliases'], j
    j = json.loads(cli('unload', 'tiny', '--json').stdout)
    assert j['state'] == 'unloaded', j


@test
def rm_refuses_a_loaded_model_then_deletes_it():
    cli('load', MODEL)
    p = cli('rm', MODEL, check=False)
    assert p.returncode == 1 and 'model_loaded' in p.stderr, (p.returncode, p.stderr)
    cli('unload', MODEL)
    p = cli('rm', MODEL, '--json')
    j = json.loads(p.stdout)
    assert j['id'] == MODEL and j['deleted'] is True, j
    assert not os.path.exists(os.path.join(STORE, MODEL + '.gguf'))
    assert MODEL not in cli('ls').stdout
    shutil.copy(STORIES, os.path.join(STORE, MODEL + '.gguf'))  # for later tests


@test
def unknown_model_fails_naming_the_store_s_models_with_a_did_you_mean():
    for args in (('load', 'no-such-model'), ('rm', 'no-such-model')):
        p = cli(*args, check=False)
        assert p.returncode == 1 and "no model 'no-such-model' in the daemon's store" in p.stderr, (args, p.stderr)
        assert f'models in the store: {MODEL}' in p.stderr and 'HTTP' not in p.stderr, (args, p.stderr)
    p = cli('load', 'storie260K', check=False)
    assert p.returncode == 1 and f"did you mean '{MODEL}'?" in p.stderr, p.stderr
    p = cli('unload', 'no-such-model', check=False)
    assert p.returncode == 1 and "'no-such-model' is not loaded (lmx ps" in p.stderr, p.stderr
    # Ollama's and file-name spellings of a store name
    p = cli('load', f'{MODEL}:latest', '--ctx', 64)
    assert p.stdout.startswith(f'loaded {MODEL}'), p.stdout
    p = cli('unload', f'{MODEL}.gguf')
    assert p.stdout.startswith(f'unloaded {MODEL}'), p.stdout
    p = cli('load', 'no-such-model', '--json', check=False)
    assert p.returncode == 1 and json.loads(p.stdout)['error']['code'] == 'model_not_found', p.stdout


@test
def admin_key_is_sent_from_lmx_admin_key():
    with Server('--models-dir', STORE, '--admin-key', 's3cret', model=None) as s:
        env = dict(os.environ, LMX_HOST=f'127.0.0.1:{s.port}')
        env.pop('LMX_ADMIN_KEY', None)
        # said in the CLI's terms: the flag and the variable, not the HTTP header
        p = lmx('pull', 'a/b:Q8_0', check=False, env=env)
        assert p.returncode == 1 and '--admin-key KEY or set LMX_ADMIN_KEY' in p.stderr, p.stderr
        assert 'X-Admin-Key' not in p.stderr, p.stderr
        p = lmx('pull', 'a/b:Q8_0', '--admin-key', 'wrong', check=False, env=env)
        assert p.returncode == 1 and 'the one given was refused' in p.stderr, p.stderr
        # a refused field is named by its flag
        p = lmx('pull', 'a/b', '--file', '../x.gguf', '--admin-key', 's3cret', check=False, env=env)
        assert p.returncode == 1 and '--file must be a relative path' in p.stderr, p.stderr
        st, _, _, _ = s.request('GET', '/admin/models', headers={'X-Admin-Key': 's3cret'})
        if st == 200:
            p = lmx('ls', check=False, env=env)
            assert p.returncode == 1 and 'LMX_ADMIN_KEY' in p.stderr, p.stderr
            p = lmx('ls', '--json', check=False, env=dict(env, LMX_ADMIN_KEY='s3cret'))
            assert p.returncode == 0 and json.loads(p.stdout)['object'] == 'list', p.stderr


class SpecShapes:
    """A stand-in admin API answering with the spec's shapes (admin-api-spec):
    checks how the CLI renders them, whatever the daemon's build."""
    ENTRY = {'id': 'org/repo:Q4_K_M', 'object': 'model', 'path': '/m/org/repo/x.gguf', 'files': ['/m/org/repo/x.gguf'],
             'size_bytes': 3 << 30, 'architecture': 'llama', 'parameters': 3_200_000_000, 'quantization': 'Q4_K_M',
             'context_length': 131072, 'supports_tools': True, 'sha256': None, 'source': None, 'loaded': True}
    LOADED = {'id': 'org/repo:Q4_K_M', 'aliases': ['chat'], 'state': 'ready', 'reason': None,
              'memory_bytes': 5 << 30, 'context_length': 8192, 'parallel': 4, 'ttl_s': 600, 'expires_at': None,
              'last_used': 1700000000, 'load_time_ms': 812, 'queued': 1, 'active': 2}

    def __init__(self):
        import http.server, threading
        shapes, self.seen = self, []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                shapes.seen.append((self.command, self.path, body))
                routes = {
                    ('GET', '/admin/models'): {'object': 'list', 'data': [shapes.ENTRY]},
                    ('GET', '/admin/status'): {'version': '0.1', 'uptime_s': 3700, 'models': [shapes.LOADED],
                                               'queue_depth': 1, 'active_sequences': 2, 'tokens_per_second': 41.5},
                    ('POST', '/admin/models/load'): shapes.LOADED,
                    ('POST', '/admin/models/unload'): {'id': 'org/repo:Q4_K_M', 'state': 'unloaded'},
                    ('DELETE', '/admin/models/org/repo:Q4_K_M'): {'id': 'org/repo:Q4_K_M', 'deleted': True},
                }
                out = routes.get((self.command, self.path))
                code = 200 if out else 404
                if not out:
                    out = {'error': {'message': f'no {self.path}', 'type': 'invalid_request_error', 'param': None,
                                     'code': 'model_not_found'}}
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = answer

        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.port = self.srv.server_address[1]


@test
def tables_render_the_admin_api_shapes():
    m = SpecShapes()
    env = dict(os.environ, LMX_HOST=f'127.0.0.1:{m.port}')
    try:
        out = lmx('ls', env=env).stdout.splitlines()
        assert out[0].split() == ['ID', 'SIZE', 'QUANT', 'ARCH', 'PARAMS', 'CONTEXT', 'LOADED'], out
        assert out[1].split() == ['org/repo:Q4_K_M', '3.0', 'GiB', 'Q4_K_M', 'llama', '3.2B', '131072', 'yes'], out
        out = lmx('ps', env=env).stdout.splitlines()
        assert out[1].split() == ['org/repo:Q4_K_M', 'ready', '5.0', 'GiB', '8192', '4', '2', '1', 'never'], out
        j = json.loads(lmx('ps', '--json', env=env).stdout)
        assert j == {'object': 'list', 'data': [SpecShapes.LOADED]}, j
        out = lmx('status', env=env).stdout
        assert 'version 0.1' in out and '62m' in out and '41.5 tokens/s' in out and 'org/repo:Q4_K_M' in out, out
        out = lmx('load', 'org/repo:Q4_K_M', '--ctx', 8192, '--parallel', 4, '--alias', 'chat', '--ttl', 600, env=env).stdout
        assert out.startswith('loaded org/repo:Q4_K_M: ready, 5.0 GiB, context 8192, 812 ms'), out
        assert m.seen[-1] == ('POST', '/admin/models/load', {'model': 'org/repo:Q4_K_M', 'ctx_size': 8192,
                                                              'parallel': 4, 'alias': 'chat', 'ttl': 600.0}), m.seen[-1]
        assert lmx('unload', 'chat', env=env).stdout.strip() == 'unloaded org/repo:Q4_K_M'
        assert m.seen[-1][2] == {'model': 'chat'}
        assert lmx('rm', 'org/repo:Q4_K_M', env=env).stdout.strip() == 'deleted org/repo:Q4_K_M'
        p = lmx('rm', 'other model', check=False, env=env)
        assert m.seen[-1][:2] == ('GET', '/admin/models'), m.seen[-2:]  # the list, for the message
        assert m.seen[-2][:2] == ('DELETE', '/admin/models/other%20model'), m.seen[-2:]
        assert p.returncode == 1 and "no model 'other model' in the daemon's store" in p.stderr, p.stderr
        assert 'models in the store: org/repo:Q4_K_M' in p.stderr, p.stderr
    finally:
        m.srv.shutdown()


@test
def unreachable_daemon_and_bad_usage_fail_clearly():
    for cmd in ('ls', 'ps', 'status'):
        p = lmx(cmd, '--port', 1, check=False)
        assert p.returncode == 1 and 'cannot reach the daemon at http://127.0.0.1:1' in p.stderr, p.stderr
    p = lmx('load', check=False)
    assert p.returncode == 2 and 'usage: lmx load' in p.stderr, p.stderr
    p = lmx('load', 'm', '--ctx', 'lots', check=False)
    assert p.returncode == 2 and '--ctx' in p.stderr, p.stderr
    p = lmx('ls', '--bogus', check=False)
    assert p.returncode == 2 and "unknown option '--bogus'" in p.stderr, p.stderr
    p = lmx('load', 'm', '--paralel', 2, check=False)
    assert p.returncode == 2 and "did you mean '--parallel'?" in p.stderr, p.stderr
    p = lmx('ps', '--help')
    assert p.stdout.startswith('usage: lmx ps'), p.stdout
    # LMX_HOST with a scheme and --host/--port combinations reach the same daemon
    port = daemon().port
    for args, env in ((('--host', '127.0.0.1', '--port', port), {}),
                      (('--host', f'127.0.0.1:{port}'), {}),
                      ((), {'LMX_HOST': f'http://127.0.0.1:{port}/'})):
        p = lmx('status', *args, check=False, env=dict(os.environ, **env))
        assert 'cannot reach' not in p.stderr, (args, env, p.stderr)


if __name__ == '__main__':
    try:
        main()
    finally:
        if _daemon:
            _daemon.__exit__()
        shutil.rmtree(_tmp, ignore_errors=True)
