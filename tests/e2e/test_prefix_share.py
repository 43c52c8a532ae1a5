#!/usr/bin/env python3
"""Prefix sharing across slots (the paged, content-addressed KV cache): requests that share a
long prompt prefix — sent together, on different slots — give the same greedy outputs as the
same requests sent one by one to a fresh server, compute the shared prefix once (the others
report it as cached_tokens), and the KV memory /metrics reports follows the tokens held."""
import re, threading

from harness import main, test
from server_util import MODEL, Server

NO_EOS = {'2': -100}  # stories260K's </s>: generate up to max_tokens
# a long shared prefix (~760 tokens of stories260K's vocabulary), then a short own part
PREFIX = ' '.join(f'Once upon a time there was a little {w} who liked to play in the park.'
                  for w in ['girl', 'boy', 'dog', 'cat', 'bird', 'fish', 'bear', 'frog'] * 4)
SAMPLE = re.compile(r'^([a-z_]+)\{model="([^"]*)"(?:,state="([a-z]+)")?\} (\S+)$', re.M)


def metrics(s):
    """{(family, state or None): value} of the model's samples (test_metrics.py checks the format)."""
    st, _, _, text = s.request('GET', '/metrics')
    assert st == 200, text
    return {(n, state or None): float(v) for n, m, state, v in SAMPLE.findall(text) if m == MODEL}


ENDINGS = ['One day she', 'The sun was', 'He said hello', 'They ran to the', 'It was a big',
           'Mom and dad']


def complete(s, prompt, out, i):
    st, b, _, text = s.post('/v1/completions', {'model': MODEL, 'prompt': prompt, 'max_tokens': 8,
                                                'temperature': 0, 'logit_bias': NO_EOS},
                            timeout=300)
    assert st == 200, text
    out[i] = (b['choices'][0]['text'], b['usage']['prompt_tokens'],
              b['usage']['prompt_tokens_details']['cached_tokens'])


@test
def concurrent_requests_sharing_a_prefix_match_sequential_ones_and_reuse_it():
    prompts = [PREFIX + ' ' + e for e in ENDINGS]
    seq = [None] * len(prompts)
    with Server('-t', 2, '-c', 2048, '--parallel', 8) as s:
        for i, p in enumerate(prompts):
            complete(s, p, seq, i)
    together = [None] * len(prompts)
    with Server('-t', 2, '-c', 2048, '--parallel', 8) as s:
        ts = [threading.Thread(target=complete, args=(s, p, together, i))
              for i, p in enumerate(prompts)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        assert all(together), f'a request failed: {s.logs()[-2000:]}'
        out = metrics(s)
        n_prompt = together[0][1]
        assert n_prompt > 600, n_prompt
        for (a, _, _), (b, _, cached), e in zip(seq, together, ENDINGS):
            assert a == b, f'{e!r}: {a!r} alone, {b!r} beside the others'
        # one request computed the prefix; every other one took (nearly all of) it
        cached = sorted(c for _, _, c in together)
        assert cached[0] < n_prompt // 2 <= cached[1], cached
        assert all(c <= n_prompt - 1 for c in cached), cached
        assert out[('lmx_prefix_cache_cached_tokens_total', None)] == sum(cached)
        assert out[('lmx_prefix_cache_hit_ratio', None)] > 0.5
        # later: warm, on any slot
        again = [None]
        complete(s, PREFIX + ' A new ending', again, 0)
        assert again[0][2] >= n_prompt - 64, again


@test
def kv_memory_follows_the_tokens_held():
    with Server('-t', 1, '-c', 2048, '--parallel', 8) as s:
        out = metrics(s)
        total = out[('lmx_kv_cache_blocks', 'free')]
        assert total == 16 * 2048 // 32, total  # 8 running + 8 cache slots' worth, none taken
        assert out[('lmx_kv_cache_bytes', None)] == 0
        res = [None] * 8
        ts = [threading.Thread(target=complete, args=(s, f'Chat {i}: the cat sat', res, i))
              for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        assert all(res)
        out = metrics(s)
        used, cached, free = (out[('lmx_kv_cache_blocks', k)] for k in ('used', 'cached', 'free'))
        nbytes = out[('lmx_kv_cache_bytes', None)]
        # eight idle slots hold their short chats: one block each, not 8 × 2048 positions
        held = sum(-(-(p + 8) // 32) for _, p, _ in res)
        assert 0 < used + cached <= held, (used, cached, held)
        assert used + cached + free == total
        assert nbytes > 0 and nbytes % (used + cached) == 0, (nbytes, used, cached)
        assert 0 < out[('lmx_kv_cache_used_ratio', None)] < 0.05


if __name__ == '__main__':
    main()
