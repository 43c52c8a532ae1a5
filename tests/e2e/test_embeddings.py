#!/usr/bin/env python3
"""POST /v1/embeddings end to end on stories260K: the openai npm SDK's
embeddings.create (node/embeddings.mjs: count, dimension, unit norm, identical
vectors alone and batched, base64, token inputs, dimensions refused), and
over plain HTTP the refusals a client can act on (context length naming the
input, bad input types, unknown fields)."""
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, test
from node_checks import register, run_driver
from server_util import MODEL, Server

N_EMBD = 64  # stories260K's embedding length


_results = None


def results():
    global _results
    if _results is None:
        with Server('--parallel', 3, '-c', 256, '-t', 1) as s:
            env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL, N_EMBD=str(N_EMBD))
            _results, _ = run_driver('embeddings.mjs', env)
    return _results


register(results, ('count_dimension_norm', 'identical_alone_and_batched', 'base64_decodes_to_the_same_floats',
                   'token_array_inputs', 'dimensions_refused_unless_the_models', 'unknown_model_is_404'), 'sdk')


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
