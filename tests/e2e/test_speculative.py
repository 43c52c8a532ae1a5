#!/usr/bin/env python3
"""Speculative decoding (docs/speculative.md) and the KV cache type, driven through the real
daemon: greedy outputs with --spec lookup, with a draft model equal to the model and with a
draft of other weights (same vocabulary) are byte-identical to plain decoding, through
/v1/completions and /v1/chat/completions, streamed and not, many requests at once; seeded
sampled runs finish and repeat; /metrics counts drafted and accepted tokens and auto-off; a
draft of another vocabulary is refused at start and at an admin load; --kv-type q8_0 serves
and admin status shows it with a smaller memory estimate; config `models:` entries set both
per model; `lmx run` / `lmx bench` take the same options."""
import json, os, re, tempfile, threading

from harness import SHARED, STORIES, lmx, main, test
from server_util import MODEL, Server, free_port, stream_text

SYNTH = os.path.join(SHARED, 'models', 'synth')
OTHER_WEIGHTS = os.path.join(SYNTH, 'llama-q8_0.gguf')        # stories260K's vocabulary
OTHER_VOCAB = os.path.join(SYNTH, 'llama3-vocab-q8_0.gguf')   # Llama 3's vocabulary
NO_EOS = {'2': -100}
SAMPLE = re.compile(r'^(lmx_spec_[a-z_]+)\{model="([^"]*)"\} (\S+)$', re.M)
REPEAT = ('The cat sat on the mat. The dog sat on the log. The cat sat on the mat. '
          'The dog sat on the log. The cat sat on the')
PROMPTS = ['Once upon a time', 'The little dog', REPEAT, 'Lily and Tom went to the park. Lily']


def jobs():
    """(name, path, body, stream) of the greedy requests each server answers: every prompt
    through both endpoints, streamed and not, some with stop strings, some without EOS."""
    out = []
    for i, p in enumerate(PROMPTS):
        extra = {'logit_bias': NO_EOS} if i % 2 else {}
        if i == 1:
            extra['stop'] = ['park', '.']
        for stream in (False, True):
            out.append((f'c{i}{stream}', '/v1/completions',
                        {'model': MODEL, 'prompt': p, 'max_tokens': 70 - 7 * i, 'temperature': 0,
                         **extra}, stream))
            out.append((f'h{i}{stream}', '/v1/chat/completions',
                        {'model': MODEL, 'messages': [{'role': 'user', 'content': p}],
                         'max_tokens': 50 + i, 'temperature': 0, **extra}, stream))
    return out


def run_one(s, path, body, stream):
    """(text, finish_reason, completion_tokens or None)."""
    if stream:
        events, _, _ = s.stream(path, {**body, 'stream_options': {'include_usage': True}})
        texts, finish = stream_text(events)
        usage = [e['usage'] for e in events if e != '[DONE]' and e.get('usage')]
        return texts[0], finish[0], usage[-1]['completion_tokens'] if usage else None
    st, b, _, text = s.post(path, body, timeout=300)
    assert st == 200, text
    ch = b['choices'][0]
    return (ch.get('text') if 'text' in ch else ch['message']['content'], ch['finish_reason'],
            b['usage']['completion_tokens'])


def run_all(s):
    """Every job at once (threads), the answers by name."""
    res, errs = {}, []

    def go(name, path, body, stream):
        try:
            res[name] = run_one(s, path, body, stream)
        except Exception as e:  # reported below with the daemon's log
            errs.append(f'{name}: {e!r}')
    ts = [threading.Thread(target=go, args=j) for j in jobs()]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    assert not errs, f'{errs}\n{s.logs()[-2000:]}'
    return res


def spec_metrics(s):
    st, _, _, text = s.request('GET', '/metrics')
    assert st == 200, text
    return {n: float(v) for n, m, v in SAMPLE.findall(text) if m == MODEL}


def server(*args):
    return Server('-t', 2, '-c', 512, '--parallel', 8, *args)


@test
def greedy_outputs_are_identical_to_plain_decoding_for_every_proposer():
    with server() as s:
        plain = run_all(s)
        assert spec_metrics(s)['lmx_spec_draft_tokens_total'] == 0
    assert any(f == 'stop' for _, f, _ in plain.values())  # stop strings / EOS are in play
    assert any(f == 'length' for _, f, _ in plain.values())
    cases = {'lookup': ('--spec', 'lookup'),
             'draft=model': ('--spec', 'draft', '--draft-model', STORIES),
             'draft=other weights': ('--spec', 'draft', '--draft-model', OTHER_WEIGHTS,
                                     '--draft-max', 6)}
    seen = {}
    for label, args in cases.items():
        with server(*args) as s:
            got = run_all(s)
            seen[label] = spec_metrics(s)
        for name, want in plain.items():
            assert got[name] == want, f'{label}, {name}: {got[name]!r} != plain {want!r}'
    m = seen['draft=model']
    assert m['lmx_spec_accepted_tokens_total'] > 100, m
    # the same model drafts what it will choose: only drafts past an end are thrown away
    assert m['lmx_spec_accepted_tokens_total'] >= 0.8 * m['lmx_spec_draft_tokens_total'], m
    assert m['lmx_spec_auto_off_total'] == 0, m
    assert seen['lookup']['lmx_spec_accepted_tokens_total'] > 0, seen['lookup']  # REPEAT
    hopeless = seen['draft=other weights']
    assert hopeless['lmx_spec_auto_off_total'] >= 1, hopeless
    assert hopeless['lmx_spec_accepted_tokens_total'] < 0.3 * hopeless['lmx_spec_draft_tokens_total']


@test
def seeded_sampled_runs_finish_and_repeat():
    body = {'model': MODEL, 'prompt': REPEAT, 'max_tokens': 60, 'temperature': 0.9, 'seed': 7,
            'top_k': 0, 'top_p': 0.95, 'logit_bias': NO_EOS}
    for args in (('--spec', 'lookup'), ('--spec', 'draft', '--draft-model', STORIES)):
        with server(*args) as s:
            a = run_one(s, '/v1/completions', body, False)
            # again, beside other requests and streamed
            side = threading.Thread(target=run_all, args=(s,))
            side.start()
            b = run_one(s, '/v1/completions', body, True)
            side.join(300)
            c = run_one(s, '/v1/completions', {**body, 'seed': 8}, False)
            m = spec_metrics(s)
        assert a == b, (args, a, b)
        assert a[1] == 'length' and a[2] == 60, a
        assert c != a, (args, 'another seed gave the same text')
        assert m['lmx_spec_accepted_tokens_total'] > 0, (args, m)


@test
def a_draft_of_another_vocabulary_is_refused():
    r = lmx('serve', '--port', free_port(), '-m', STORIES, '--spec', 'draft', '--draft-model',
            OTHER_VOCAB, check=False)
    assert r.returncode != 0
    assert 'different vocabulary' in r.stderr and 'llama3-vocab-q8_0' in r.stderr, r.stderr
    assert 'stories260K' in r.stderr, r.stderr
    d = tempfile.mkdtemp(prefix='lmx-spec-')
    os.symlink(os.path.realpath(STORIES), os.path.join(d, 'stories260K.gguf'))
    os.symlink(os.path.realpath(OTHER_VOCAB), os.path.join(d, 'llama3-vocab-q8_0.gguf'))
    with Server('--models-dir', d, '-c', 256, '--parallel', 2, '-t', 1, model=None) as s:
        st, b, _, text = s.post('/admin/models/load', {'model': 'stories260K',
                                                       'speculative': 'draft',
                                                       'draft_model': 'llama3-vocab-q8_0'})
        assert st == 400 and b['error']['code'] == 'draft_model_mismatch', text
        assert 'different vocabulary' in b['error']['message'], text
        st, b, _, text = s.post('/admin/models/load', {'model': 'stories260K',
                                                       'speculative': 'sometimes'})
        assert st == 400 and b['error']['param'] == 'speculative', text
        st, b, _, text = s.post('/admin/models/load', {'model': 'stories260K',
                                                       'speculative': 'draft'})
        assert st == 400 and b['error']['param'] == 'draft_model', text
        # the daemon is up, and the same model loads with a draft of its vocabulary
        st, b, _, text = s.post('/admin/models/load', {'model': 'stories260K',
                                                       'speculative': 'draft',
                                                       'draft_model': 'stories260K',
                                                       'draft_max': 3})
        assert st == 200, text
        assert b['speculative']['mode'] == 'draft' and b['speculative']['draft_max'] == 3, b
        assert b['speculative']['draft_model'] == 'stories260K', b


@test
def kv_type_q8_0_serves_and_status_shows_it():
    mem = {}
    name = 'llama-q8_0'  # Q8_0 KV needs heads of a multiple of 32 values (stories260K's are 8)
    for kv in ('f16', 'q8_0'):
        with Server('-t', 1, '-c', 1024, '--parallel', 4, '--kv-type', kv,
                    model=OTHER_WEIGHTS) as s:
            st, b, _, text = s.post('/v1/completions', {'model': name, 'prompt': 'Once upon a time',
                                                        'max_tokens': 20, 'temperature': 0,
                                                        'logit_bias': NO_EOS})
            assert st == 200 and b['usage']['completion_tokens'] == 20, text
            st, j, _, text = s.request('GET', '/admin/status')
            assert st == 200, text
            m = [x for x in j['models'] if x['id'] == name][0]
            assert m['kv_type'] == kv, m
            assert m['speculative']['mode'] == 'off', m
            mem[kv] = m['memory_bytes']
    assert mem['q8_0'] < mem['f16'], mem
    # and a bad value is refused before anything starts
    r = lmx('serve', '--port', free_port(), '-m', STORIES, '--kv-type', 'q4', check=False)
    assert r.returncode != 0 and 'f16, f32 or q8_0' in r.stderr, r.stderr


@test
def config_models_entries_set_kv_type_and_speculation_per_model():
    d = tempfile.mkdtemp(prefix='lmx-spec-')
    os.symlink(os.path.realpath(STORIES), os.path.join(d, 'stories260K.gguf'))
    os.symlink(os.path.realpath(OTHER_WEIGHTS), os.path.join(d, 'llama-q8_0.gguf'))
    cfg = os.path.join(d, 'config.yaml')
    with open(cfg, 'w') as f:
        f.write('models:\n'
                '  - model: stories260K\n    speculative: draft\n    draft_model: stories260K\n'
                '    draft_max: 5\n'
                '  - model: llama-q8_0\n    kv_type: q8_0\n    speculative: lookup\n')
    with Server('--config', cfg, '--models-dir', d, '-c', 256, '--parallel', 2, '-t', 1,
                model=None) as s:
        st, b, _, text = s.post('/v1/completions', {'model': MODEL, 'prompt': 'Once upon a time',
                                                    'max_tokens': 30, 'temperature': 0})
        assert st == 200, text
        st, j, _, text = s.request('GET', '/admin/status')
        models = {m['id']: m for m in j['models']}
        a, b = models[MODEL], models['llama-q8_0']
        assert a['kv_type'] == 'f16' and a['speculative']['mode'] == 'draft', a
        assert a['speculative']['draft_max'] == 5 and a['speculative']['accepted'] > 0, a
        assert b['kv_type'] == 'q8_0' and b['speculative']['mode'] == 'lookup', b
        assert b['speculative']['draft_max'] == 8 and b['speculative']['draft_model'] is None, b
    with open(cfg, 'w') as f:
        f.write('models:\n  - model: stories260K\n    speculative: sometimes\n')
    r = lmx('serve', '--port', free_port(), '--config', cfg, '--models-dir', d, check=False)
    assert r.returncode != 0 and 'off, lookup or draft' in r.stderr, r.stderr


@test
def lmx_run_and_bench_take_the_same_options():
    base = ['run', STORIES, REPEAT, '--temp', '0', '-n', '60', '-t', '1', '--json']
    plain = lmx(*base).stdout
    for extra in (['--spec', 'lookup'], ['--spec', 'draft', '--draft-model', STORIES,
                                         '--draft-max', '3'],
                  ['--spec', 'draft', '--draft-model', OTHER_WEIGHTS]):
        r = lmx(*base, *extra)
        assert r.stdout == plain, (extra, r.stdout, plain)
        assert 'speculative:' in r.stderr, r.stderr
    r = lmx('run', STORIES, 'x', '--spec', 'draft', '--draft-model', OTHER_VOCAB, check=False)
    assert r.returncode != 0 and 'different vocabulary' in r.stderr, r.stderr
    r = lmx('run', STORIES, 'x', '--spec', 'sometimes', check=False)
    assert r.returncode == 2, r.stderr
    j = json.loads(lmx('bench', STORIES, '-p', 8, '-n', 64, '-t', 1, '--spec', 'draft',
                       '--draft-model', STORIES, '--json').stdout)
    assert j['spec'] == 'draft' and j['accepted'] > 0 and j['decode_tok_s'] > 0, j


if __name__ == '__main__':
    main()
