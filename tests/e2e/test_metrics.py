#!/usr/bin/env python3
"""GET /metrics: the Prometheus text format (checked by `promtool check metrics`, from the
Debian package prometheus, and by a strict parser here), and counters that move as the
requests made say they must."""
import os, re, shutil, subprocess, tempfile, threading, time

from harness import STORIES, main, test
from server_util import MODEL, Server

NO_EOS = {'2': -100}  # stories260K's </s>: generate up to max_tokens

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse(text):
    """Strict reading of the exposition format: every sample belongs to a family announced
    by HELP and TYPE lines before it, labels are well quoted, values are floats, histogram
    buckets are cumulative and end with +Inf equal to _count. Returns {(name, labels): value}."""
    assert text.endswith('\n'), 'the body must end with a newline'
    types, helped, out, seen_families = {}, set(), {}, []
    for line in text.split('\n')[:-1]:
        if line.startswith('# HELP '):
            name = line.split(' ')[2]
            assert name not in helped, f'HELP twice for {name}'
            helped.add(name)
            continue
        if line.startswith('# TYPE '):
            _, _, name, typ = line.split(' ')
            assert typ in ('counter', 'gauge', 'histogram', 'summary', 'untyped'), line
            assert name in helped and name not in types, line
            types[name] = typ
            seen_families.append(name)
            continue
        assert not line.startswith('#'), line
        m = SAMPLE.match(line)
        assert m, f'not a sample line: {line!r}'
        name, _, labels, value = m.groups()
        fam = name
        for suf in ('_bucket', '_sum', '_count'):
            if name.endswith(suf) and types.get(name[:-len(suf)]) == 'histogram':
                fam = name[:-len(suf)]
        assert fam in types, f'sample before its TYPE: {line}'
        assert fam == seen_families[-1], f'{fam} samples are not grouped: {line}'
        if types[fam] == 'counter':
            assert fam.endswith('_total'), fam
        lab = ()
        if labels:
            rest, pairs = labels, []
            while rest:
                lm = LABEL.match(rest)
                assert lm, f'bad labels in {line!r}'
                v = lm.group(2).replace('\\n', '\n').replace('\\"', '"').replace('\\\\', '\\')
                pairs.append((lm.group(1), v))
                rest = rest[lm.end():]
            lab = tuple(pairs)
        v = float(value)
        assert (name, lab) not in out, f'duplicate sample {line}'
        out[(name, lab)] = v
    # histograms: cumulative buckets, +Inf == _count
    for (name, lab), v in out.items():
        if name.endswith('_count') and types.get(name[:-6]) == 'histogram':
            base = name[:-6]
            buckets = sorted((float(dict(l)['le']), bv) for (n, l), bv in out.items()
                             if n == base + '_bucket' and tuple(x for x in l if x[0] != 'le') == lab)
            assert buckets and buckets[-1][0] == float('inf') and buckets[-1][1] == v, (name, lab)
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), (name, buckets)
    return out


def get(out, name, **labels):
    want = tuple(sorted(labels.items()))
    for (n, lab), v in out.items():
        if n == name and tuple(sorted(lab)) == want:
            return v
    return 0.0


def scrape(s, **kw):
    st, _, r, text = s.request('GET', '/metrics', **kw)
    assert st == 200, (st, text)
    assert r.getheader('Content-Type').startswith('text/plain; version=0.0.4'), r.getheader('Content-Type')
    return text


def promtool(text):
    exe = shutil.which('promtool')
    assert exe, 'promtool not found: scripts/install-deps.sh installs the Debian package prometheus'
    p = subprocess.run([exe, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f'promtool check metrics: {p.stdout}{p.stderr}\n{text}'


@test
def metrics_after_traffic_pass_promtool_and_the_strict_parser():
    with Server('-t', 1, '-c', 256) as s:
        s.chat(max_tokens=4)
        s.stream('/v1/chat/completions', {'model': MODEL, 'max_tokens': 4,
                                           'messages': [{'role': 'user', 'content': 'Hi'}]})
        s.post('/v1/completions', {'model': MODEL, 'prompt': 'Once', 'max_tokens': 3})
        s.chat(model='no-such-model')
        s.request('GET', '/nope')
        s.post('/v1/chat/completions', None, raw='{bad json')
        for _ in range(100):  # counted once the server sent the last byte: wait for all 6
            text = scrape(s)
            out = parse(text)
            if sum(v for (n, l), v in out.items()
                   if n == 'lmx_requests_total' and ('api', '/metrics') not in l) >= 6:
                break
            time.sleep(0.05)
        promtool(text)
        for fam in ('lmx_requests_total', 'lmx_prompt_tokens_total', 'lmx_completion_tokens_total',
                    'lmx_time_to_first_token_seconds', 'lmx_request_duration_seconds',
                    'lmx_queue_depth', 'lmx_active_sequences', 'lmx_kv_cache_used_ratio',
                    'lmx_kv_cache_slots', 'lmx_prefix_cache_hits_total',
                    'lmx_prefix_cache_cached_tokens_total', 'lmx_model_load_seconds',
                    'lmx_download_bytes_total', 'lmx_models_loaded', 'lmx_uptime_seconds',
                    'process_resident_memory_bytes'):
            assert f'# TYPE {fam} ' in text, fam
        assert get(out, 'lmx_models_loaded') == 1
        assert get(out, 'lmx_requests_total', api='/v1/chat/completions', model='unknown', status='404') == 1
        assert get(out, 'lmx_requests_total', api='other', model='none', status='404') == 1
        assert get(out, 'lmx_requests_total', api='/v1/completions', model=MODEL, status='200') == 1
        assert get(out, 'process_resident_memory_bytes') > 1 << 20
        assert get(out, 'lmx_uptime_seconds') > 0
        assert 0 < get(out, 'lmx_model_load_seconds', model=MODEL) < 60
        assert get(out, 'lmx_download_bytes_total') == 0
        assert get(out, 'lmx_kv_cache_slots', model=MODEL, state='cached') >= 1
        assert 0 < get(out, 'lmx_kv_cache_used_ratio', model=MODEL) <= 1


@test
def counters_move_by_what_the_responses_report():
    with Server('-t', 1, '-c', 256, '--parallel', 2) as s:
        before = parse(scrape(s))
        prompt = completion = cached = 0
        msgs = [{'role': 'user', 'content': 'Tell me a story about a cat'}]
        n = 5
        for i in range(n):
            st, b, _, _ = s.chat(messages=msgs, max_tokens=6, logit_bias=NO_EOS)
            assert st == 200, b
            prompt += b['usage']['prompt_tokens']
            completion += b['usage']['completion_tokens']
            cached += b['usage']['prompt_tokens_details']['cached_tokens']
        # concurrent streams count once each too
        errs = []

        def one():
            try:
                ev, _, _ = s.stream('/v1/chat/completions', {'model': MODEL, 'max_tokens': 5,
                                                             'logit_bias': NO_EOS, 'messages': msgs,
                                                             'stream_options': {'include_usage': True}})
                u = [e for e in ev if e != '[DONE]' and e.get('usage')][-1]['usage']
                with lock:
                    tot[0] += u['prompt_tokens']
                    tot[1] += u['completion_tokens']
            except Exception as e:  # noqa: BLE001 - reported below
                errs.append(e)
        lock, tot = threading.Lock(), [0, 0]
        ts = [threading.Thread(target=one) for _ in range(4)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert not errs, errs
        # a request is counted when the server has sent its last byte, which can be a moment
        # after the client read it: wait for the count, then check everything else
        for _ in range(100):
            after = parse(scrape(s))
            d = lambda name, **l: get(after, name, **l) - get(before, name, **l)
            if d('lmx_requests_total', api='/v1/chat/completions', model=MODEL, status='200') >= n + 4:
                break
            time.sleep(0.05)
        assert d('lmx_requests_total', api='/v1/chat/completions', model=MODEL, status='200') == n + 4
        assert d('lmx_prompt_tokens_total', model=MODEL) == prompt + tot[0]
        assert d('lmx_completion_tokens_total', model=MODEL) == completion + tot[1] == 6 * n + 5 * 4
        assert d('lmx_time_to_first_token_seconds_count', model=MODEL) == n + 4
        assert d('lmx_request_duration_seconds_count', api='/v1/chat/completions', model=MODEL) == n + 4
        assert d('lmx_time_to_first_token_seconds_sum', model=MODEL) > 0
        # the same prompt again and again: the prefix cache is hit
        assert cached > 0
        assert d('lmx_prefix_cache_hits_total', model=MODEL) >= n - 1
        assert d('lmx_prefix_cache_cached_tokens_total', model=MODEL) >= cached
        # the scrape itself is counted, once per scrape
        assert d('lmx_requests_total', api='/metrics', model='none', status='200') >= 1
        assert get(after, 'lmx_queue_depth', model=MODEL) == 0
        assert get(after, 'lmx_active_sequences', model=MODEL) == 0


@test
def metrics_need_the_api_key_when_one_is_set():
    with Server('-t', 1, '--api-key', 'sekrit', model=None) as s:
        st, b, _, _ = s.request('GET', '/metrics')
        assert st == 401 and b['error']['code'] == 'invalid_api_key', (st, b)
        # a request is counted when the server has finished it, a moment after the
        # client read its answer (the event loop notes the end of the response)
        for _ in range(50):
            text = scrape(s, headers={'Authorization': 'Bearer sekrit'})
            out = parse(text)
            if get(out, 'lmx_requests_total', api='/metrics', model='none', status='401') == 1:
                break
            time.sleep(0.05)
        promtool(text)
        assert get(out, 'lmx_models_loaded') == 0
        assert get(out, 'lmx_requests_total', api='/metrics', model='none', status='401') == 1


@test
def label_values_are_escaped():
    """A model whose file name holds a quote and a backslash: its label must be escaped."""
    d = tempfile.mkdtemp()
    try:
        path = os.path.join(d, 'st"o\\ry.gguf')
        shutil.copy(STORIES, path)
        name = 'st"o\\ry'
        with Server('-t', 1, '-c', 128, model=path) as s:
            st, b, _, _ = s.chat(model=name, max_tokens=2)
            assert st == 200, b
            # counted once the server has sent the last byte, a moment after the client read it
            for _ in range(100):
                text = scrape(s)
                if get(parse(text), 'lmx_requests_total', api='/v1/chat/completions', model=name,
                       status='200') == 1:
                    break
                time.sleep(0.05)
            assert 'model="st\\"o\\\\ry"' in text, text
            promtool(text)
            out = parse(text)
            assert get(out, 'lmx_requests_total', api='/v1/chat/completions', model=name, status='200') == 1
    finally:
        shutil.rmtree(d)


@test
def strict_parser_rejects_what_promtool_rejects():
    """The python checker is itself checked, so a pass means something."""
    bad = ['lmx_x 1\n',                                                  # no TYPE
           '# HELP a_total h\n# TYPE a_total counter\na_total{m="x} 1\n',   # bad quoting
           '# HELP a h\n# TYPE a counter\na 1\n',                           # counter without _total
           '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n']
    for text in bad:
        try:
            parse(text)
        except AssertionError:
            continue
        raise AssertionError(f'accepted: {text!r}')


if __name__ == '__main__':
    main()
