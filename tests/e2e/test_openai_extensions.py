#!/usr/bin/env python3
"""Extensions of the OpenAI request that serving benchmarks and evaluation
harnesses send: ignore_eos (llama.cpp / vLLM) generates to max_tokens, in
/v1/completions, /v1/chat/completions and /v1/responses."""
from harness import main, test
from server_util import MODEL, Server

_s = None


def server():
    global _s
    if _s is None:
        _s = Server('-c', 256, '-t', 1, '--parallel', 2)
    return _s


@test
def ignore_eos_generates_up_to_max_tokens():
    s = server()
    eos = {'2': 100}  # stories260K's </s>: the first token drawn without ignore_eos
    for path, body in (('/v1/completions', {'prompt': 'Once upon a time'}),
                       ('/v1/chat/completions', {'messages': [{'role': 'user', 'content': 'Hi'}]})):
        base = {'model': MODEL, 'max_tokens': 20, 'temperature': 0, 'logit_bias': eos, **body}
        st, j, _, _ = s.post(path, base)
        assert st == 200 and j['choices'][0]['finish_reason'] == 'stop', (path, j)
        assert j['usage']['completion_tokens'] <= 1, (path, j['usage'])
        st, j, _, _ = s.post(path, {**base, 'ignore_eos': True})
        assert st == 200 and j['choices'][0]['finish_reason'] == 'length', (path, j)
        assert j['usage']['completion_tokens'] == 20, (path, j['usage'])
        st, j, _, _ = s.post(path, {**base, 'ignore_eos': 'yes'})
        assert st == 400 and j['error']['param'] == 'ignore_eos', j
    # /v1/responses takes it too (as its other sampler extensions): output to max_output_tokens
    base = {'model': MODEL, 'input': 'Hi', 'max_output_tokens': 20, 'temperature': 0,
            'logit_bias': eos, 'store': False}
    st, j, _, _ = s.post('/v1/responses', base)
    assert st == 200 and j['status'] == 'completed' and j['usage']['output_tokens'] <= 1, j
    st, j, _, _ = s.post('/v1/responses', {**base, 'ignore_eos': True})
    assert st == 200 and j['status'] == 'incomplete', j
    assert j['incomplete_details'] == {'reason': 'max_output_tokens'}, j
    assert j['usage']['output_tokens'] == 20, j['usage']
    st, j, _, _ = s.post('/v1/responses', {**base, 'ignore_eos': 'yes'})
    assert st == 400 and j['error']['param'] == 'ignore_eos', j


@test
def stops_cleanly():
    global _s
    assert server().stop() == 0
    _s = None


if __name__ == '__main__':
    try:
        main()
    finally:
        if _s:
            _s.stop()
