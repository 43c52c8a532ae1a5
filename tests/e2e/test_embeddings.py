#!/usr/bin/env python3
"""POST /v1/embeddings end to end on stories260K: the openai npm SDK's
embeddings.create (node/embeddings.mjs: count, dimension, unit norm, identical
vectors alone and batched, base64, token inputs, dimensions refused), and
over plain HTTP the refusals a client can act on (context length naming the
input, bad input types, unknown fields)."""
import os, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, test
from server_util import MODEL, Server

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, 'node')
N_EMBD = 64  # stories260K's embedding length


def ensure_sdk():
    if os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'openai')):
        return
    npm = shutil.which('npm')
    assert npm, 'npm is not installed (scripts/install-deps.sh installs it)'
    subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=NODE_DIR, check=True,
                   stdout=subprocess.DEVNULL, timeout=300)


_results = None


def results():
    global _results
    if _results is None:
        ensure_sdk()
        with Server('--parallel', 3, '-c', 256, '-t', 1) as s:
            env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL, N_EMBD=str(N_EMBD))
            p = subprocess.run(['node', os.path.join(NODE_DIR, 'embeddings.mjs')], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
        _results, name = {}, None
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
    return _results


def sdk_check(name):
    def fn():
        r = results()
        assert name in r, f'{name} did not run: {sorted(r)}'
        assert r[name] is None, r[name]
    fn.__name__ = f'sdk_{name}'
    test(fn)


for n in ('count_dimension_norm', 'identical_alone_and_batched', 'base64_decodes_to_the_same_floats',
          'token_array_inputs', 'dimensions_refused_unless_the_models', 'unknown_model_is_404'):
    sdk_check(n)


@test
def refusals_name_the_field_and_the_input():
    with Server('--parallel', 2, '-c', 64, '-t', 1) as s:
        def post(body):
            st, j, _, raw = s.post('/v1/embeddings', body)
            assert j and 'error' in j, raw
            return st, j['error']
        st, e = post({'model': MODEL, 'input': ['short', 'once upon a time ' * 40]})
        assert st == 400 and e['code'] == 'context_length_exceeded' and 'input[1]' in e['message'], (st, e)
        st, e = post({'model': MODEL, 'input': [[1, 2], 'ok', 3]})
        assert st == 400 and e['param'] == 'input' and 'input[2]' in e['message'], (st, e)
        st, e = post({'model': MODEL, 'input': [[1, 100000]]})
        assert st == 400 and 'input[0][1]' in e['message'], (st, e)
        st, e = post({'model': MODEL, 'input': ''})
        assert st == 400 and e['param'] == 'input', (st, e)
        st, e = post({'model': MODEL, 'input': []})
        assert st == 400 and e['param'] == 'input', (st, e)
        st, e = post({'model': MODEL, 'input': 'hi', 'encoding_format': 'int8'})
        assert st == 400 and e['param'] == 'encoding_format', (st, e)
        st, e = post({'model': MODEL, 'input': 'hi', 'pooling': 'cls'})
        assert st == 400 and e['param'] == 'pooling', (st, e)
        # the whole context is usable (nothing is generated); `user` is accepted
        st, j, _, raw = s.post('/v1/embeddings', {'model': MODEL, 'input': [1] + [5] * 63, 'user': 'u1'})
        assert st == 200 and len(j['data'][0]['embedding']) == N_EMBD, raw


if __name__ == '__main__':
    main()
