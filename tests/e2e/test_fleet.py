#!/usr/bin/env python3
"""A fleet of bots on one lmx serve: keys and tenants, quotas that survive a
restart, client ids behind (un)trusted proxies, fair shares under load, and
the overload contract (429 + Retry-After) in every dialect — all driven over
HTTP on 127.0.0.1 with bounded loops (docs/fleet.md, docs/overload.md)."""
import hashlib, http.client, json, os, re, tempfile, threading, time

from harness import LMX, SHARED, admin_headers, lmx, main, test
from server_util import MODEL, Server

SYNTH = os.path.join(SHARED, 'models', 'synth', 'llama-f32.gguf')  # random weights: long outputs
CHAT = {'model': MODEL, 'messages': [{'role': 'user', 'content': 'Once upon a time'}]}


def sha(k):
    return hashlib.sha256(k.encode()).hexdigest()


def post(port, path, body, headers=None, timeout=60):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    c.request('POST', path, json.dumps(body), {'Content-Type': 'application/json', **(headers or {})})
    r = c.getresponse()
    text = r.read().decode('utf-8', 'replace')
    c.close()
    try:
        j = json.loads(text)
    except ValueError:
        j = None
    return r.status, j, dict((k.lower(), v) for k, v in r.getheaders())


def get(port, path, headers=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    c.request('GET', path, headers=headers or {})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text


def log_lines(s):
    out = []
    for line in s.logs().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def chat_clients(s, n):
    """The client ids of the chat completions' log lines, once n are written
    (a request's line is written just after its last byte: wait up to 10 s)."""
    for _ in range(200):
        lines = [l for l in log_lines(s) if l.get('path') == '/v1/chat/completions']
        if len(lines) >= n:
            break
        time.sleep(0.05)
    return lines


def check_retry_after(h, hi=59):
    ra = h.get('retry-after')
    assert ra and ra.isdigit() and 1 <= int(ra) <= hi, h
    return int(ra)


@test
def keys_missing_wrong_revoked_get_401_and_each_key_names_its_tenant():
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, 't.db')
        with Server('--tenancy-db', db, '--api-keys', f'acme:{sha("sk-acme")}',
                    '--admin-key', 'adm') as s:
            st, j, _ = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 4})
            assert st == 401 and j['error']['code'] == 'invalid_api_key', (st, j)
            st, j, _ = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 4},
                            {'Authorization': 'Bearer sk-wrong'})
            assert st == 401, st
            # the Anthropic dialect refuses in its own shape
            st, j, _ = post(s.port, '/v1/messages', {'model': MODEL, 'max_tokens': 4,
                                                      'messages': [{'role': 'user', 'content': 'hi'}]},
                            {'x-api-key': 'nope'})
            assert st == 401 and j['type'] == 'error' and j['error']['type'] == 'authentication_error', j
            st, j, _ = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 4},
                            {'Authorization': 'Bearer sk-acme'})
            assert st == 200, (st, j)
            env = dict(os.environ, LMX_HOST=f'127.0.0.1:{s.port}', LMX_ADMIN_KEY='adm')
            p = lmx('keys', 'add', 'beta', env=env)
            key = p.stdout.strip()
            assert key.startswith('lmx-') and len(key) > 30, p.stdout
            st, j, _ = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 4},
                            {'Authorization': f'Bearer {key}'})
            assert st == 200, (st, j)
            ls = lmx('keys', 'ls', '--json', env=env).stdout
            keys = json.loads(ls)['data']
            mine = [k for k in keys if k['tenant'] == 'beta']
            assert len(mine) == 1 and 'key' not in mine[0] and key not in ls, ls
            lmx('keys', 'revoke', mine[0]['id'], env=env)
            st, _, _ = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 4},
                            {'Authorization': f'Bearer {key}'})
            assert st == 401, st
            tenants = {l.get('tenant') for l in chat_clients(s, 5) if l.get('status') == 200}
            assert tenants == {'acme', 'beta'}, tenants
            s.stop()
        # the database keeps only hashes
        assert b'sk-acme' not in open(db, 'rb').read() and key.encode() not in open(db, 'rb').read()


@test
def tenant_quota_gives_429_quota_exceeded_and_survives_a_restart():
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, 't.db')
        args = ('--tenancy-db', db, '--api-keys', f'small:{sha("sk-s")}', '--tenants',
                'small:tpd=40,rpm=1000')
        auth = {'Authorization': 'Bearer sk-s'}
        with Server(*args) as s:
            n, st = 0, 200
            while st == 200 and n < 20:
                st, j, h = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 30}, auth)
                n += 1
            assert st == 429 and j['error']['code'] == 'quota_exceeded', (st, j)
            assert int(h['retry-after']) >= 1, h
            assert h.get('x-ratelimit-limit-requests') == '1000', h
            s.stop()
        with Server(*args) as s:
            st, j, h = post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 30}, auth)
            assert st == 429 and j['error']['code'] == 'quota_exceeded', (st, j)
            # another dialect, its own shape, the same contract
            st, j, h = post(s.port, '/api/chat', {'model': MODEL, 'stream': False,
                                                   'messages': [{'role': 'user', 'content': 'hi'}]}, auth)
            assert st == 429 and isinstance(j['error'], str) and 'quota' in j['error'], (st, j)
            assert 'retry-after' in h
            s.stop()


@test
def spoofed_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy():
    xff = {'X-Forwarded-For': '203.0.113.9', 'Forwarded': 'for=198.51.100.7'}
    with Server() as s:
        assert post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 2}, xff)[0] == 200
        clients = [l.get('client') for l in chat_clients(s, 1)]
        assert clients == ['addr:127.0.0.1'], clients
        s.stop()
    with Server('--trusted-proxies', '127.0.0.1/32, 10.0.0.0/8') as s:
        chain = {'X-Forwarded-For': '192.0.2.1, 203.0.113.9, 10.1.2.3'}
        assert post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 2}, chain)[0] == 200
        assert post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 2},
                    {'Forwarded': 'for="[2001:db8::5]:443";proto=https'})[0] == 200
        # an agent id names the client whatever the address
        assert post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 2},
                    {'x-openclaw-agent-id': 'bot-7', **chain})[0] == 200
        assert post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 2, 'user': 'u-42'})[0] == 200
        clients = [l.get('client') for l in chat_clients(s, 4)]
        assert clients == ['addr:203.0.113.9', 'addr:2001:db8::5', 'agent:bot-7', 'user:u-42'], clients
        _, m = get(s.port, '/metrics')
        assert 'lmx_client_requests_total{client="agent:bot-7"} 1' in m, m[-2000:]
        s.stop()


def client_series(m):
    """{client: count} of lmx_client_requests_total in a /metrics text."""
    return {k: int(v) for k, v in re.findall(r'^lmx_client_requests_total\{client="([^"]*)"\} (\d+)$', m, re.M)}


@test
def client_labels_go_to_the_clients_busy_lately_and_stay_bounded():
    with Server('--client-labels', '2') as s:
        def hit(agent, n=1):
            for _ in range(n):
                assert post(s.port, '/v1/chat/completions', {**CHAT, 'max_tokens': 1},
                            {'x-openclaw-agent-id': agent})[0] == 200
        hit('early'), hit('steady')
        hit('late')  # no label to spare: counted as other
        m = client_series(get(s.port, '/metrics')[1])
        assert m == {'agent:early': 1, 'agent:steady': 1, 'other': 1}, m
        # "late" becomes the busiest: it takes a label from one that went quiet
        hit('steady')
        hit('late', 4)
        m = client_series(get(s.port, '/metrics')[1])
        assert len(m) == 3 and 'agent:late' in m and m['agent:steady'] == 2, m
        assert 'agent:early' not in m, m  # fell back to "other"
        # late's hits before its promotion stay under other; its label counts from then on
        assert m['other'] + m['agent:late'] == 5 and m['other'] >= 2, m
        text = get(s.port, '/metrics')[1]
        assert re.search(r'^lmx_client_label_evictions_total 1$', text, re.M), text[-800:]
        s.stop()


def admin(port, method, path, body=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {'Content-Type': 'application/json', **admin_headers()})
    r = c.getresponse()
    j = json.loads(r.read() or b'null')
    c.close()
    return r.status, j


@test
def latency_target_is_per_model_from_config_and_admin_load_with_the_global_as_default():
    with tempfile.TemporaryDirectory() as d:
        store = os.path.join(d, 'models')
        os.mkdir(store)
        os.symlink(os.path.realpath(os.path.join(SHARED, 'models', 'stories260K.gguf')),
                   os.path.join(store, 'stories260K.gguf'))
        for n in ('llama-q8_0', 'llama-f32'):
            os.symlink(os.path.realpath(os.path.join(SHARED, 'models', 'synth', n + '.gguf')),
                       os.path.join(store, n + '.gguf'))
        cfg = os.path.join(d, 'lmx.yaml')
        with open(cfg, 'w') as f:
            f.write('models:\n  - {model: stories260K, itl_target_ms: 0}\n  - {model: llama-q8_0}\n')
        with Server('--config', cfg, '--models-dir', store, '--itl-target-ms', 250, '--parallel', 4,
                    '-c', 512, '-t', 1, model=None) as s:
            # a strict target through the admin API, on a model decoding 4 streams at once
            st, j = admin(s.port, 'POST', '/admin/models/load', {'model': 'llama-f32', 'itl_target_ms': 0.001})
            assert st == 200 and j['itl_target_ms'] == 0.001, (st, j)
            st, j = admin(s.port, 'POST', '/admin/models/load', {'model': 'llama-f32', 'itl_target_ms': 'x'})
            assert st == 400 and j['error']['param'] == 'itl_target_ms', (st, j)
            st, j = admin(s.port, 'GET', '/admin/status')
            models = {m['id']: m for m in j['models']}
            assert models['stories260K']['itl_target_ms'] is None, models  # 0 in the entry: none
            assert models['llama-q8_0']['itl_target_ms'] == 250, models  # the global default
            # the CLI sets it too
            env = dict(os.environ, LMX_HOST=f'127.0.0.1:{s.port}')
            lmx('unload', 'llama-q8_0', env=env)
            j = json.loads(lmx('load', 'llama-q8_0', '--itl-target-ms', 40, '--json', env=env).stdout)
            assert j['itl_target_ms'] == 40, j
            for name in ('llama-f32', 'stories260K'):
                body = {'model': name, 'max_tokens': 120, 'temperature': 1, 'ignore_eos': True,
                        'messages': [{'role': 'user', 'content': 'Once upon a time'}]}
                res = flood(s.port, 4, '/v1/chat/completions', body)
                assert all(r[0] == 200 for r in res), [r[:2] for r in res]
            st, j = admin(s.port, 'GET', '/admin/status')
            models = {m['id']: m for m in j['models']}
            # the strict target capped its own model's batch to one sequence, not the others
            assert models['llama-f32']['batch_cap'] == 1, models['llama-f32']
            assert models['llama-f32']['itl_p95_ms'] > 0.001, models['llama-f32']
            assert models['stories260K']['batch_cap'] == 4, models['stories260K']
            s.stop()


def flood(port, n, path, body, headers=None):
    """n concurrent requests; [(status, json, headers)]."""
    out = [None] * n

    def one(i):
        try:
            out[i] = post(port, path, body, headers, timeout=120)
        except Exception as e:  # noqa: BLE001 — reported below as a lost request
            out[i] = (0, repr(e), {})
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(150)
    assert all(o is not None for o in out), 'a request hung'
    return out


@test
def flooding_past_the_queue_gets_429_queue_full_with_retry_after_in_every_dialect():
    with Server('--parallel', 1, '--queue', 1, '-t', 1, model=SYNTH) as s:
        m = 'llama-f32'
        cases = [
            ('/v1/chat/completions', {'model': m, 'max_tokens': 300, 'messages': [{'role': 'user', 'content': 'a'}]},
             lambda j: j['error']['code'] == 'queue_full' and j['error']['type'] == 'rate_limit_error'),
            ('/v1/chat/completions', {'model': m, 'max_tokens': 300, 'stream': True,
                                      'messages': [{'role': 'user', 'content': 'a'}]},
             lambda j: j['error']['code'] == 'queue_full'),
            ('/v1/messages', {'model': m, 'max_tokens': 300, 'messages': [{'role': 'user', 'content': 'a'}]},
             lambda j: j['type'] == 'error' and j['error']['type'] == 'rate_limit_error'),
            ('/api/chat', {'model': m, 'stream': False, 'options': {'num_predict': 300},
                           'messages': [{'role': 'user', 'content': 'a'}]},
             lambda j: isinstance(j['error'], str) and 'busy' in j['error']),
        ]
        for path, body, shape in cases:
            res = flood(s.port, 8, path, body)
            codes = sorted(r[0] for r in res)
            assert set(codes) <= {200, 429}, (path, codes, [r[1] for r in res if r[0] not in (200, 429)])
            busy = [r for r in res if r[0] == 429]
            assert busy and codes.count(200) >= 2, (path, codes)
            for st, j, h in busy:
                check_retry_after(h)
                assert shape(j), (path, j)
        s.stop()


@test
def openai_sdk_retries_recover_from_429_without_a_failed_request():
    from node_checks import run_driver
    with Server('--parallel', 1, '--queue', 1, '-t', 1, model=SYNTH) as s:
        env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL='llama-f32',
                   N='5', MAX_TOKENS='200')
        results, out = run_driver('overload.mjs', env)
        assert results.get('all_succeeded') is None, (results, out[-3000:])
        s.stop()
        n429 = sum(1 for l in log_lines(s) if l.get('status') == 429)
        assert n429 >= 1, 'the flood never reached the queue limit: the test proved nothing'


def ttft_stream(port, agent, max_tokens):
    """Streams a chat; seconds to the first content chunk (None on a 429), status."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    t0 = time.time()
    c.request('POST', '/v1/chat/completions',
              json.dumps({**CHAT, 'max_tokens': max_tokens, 'stream': True}),
              {'Content-Type': 'application/json', 'x-openclaw-agent-id': agent})
    r = c.getresponse()
    if r.status != 200:
        h = dict((k.lower(), v) for k, v in r.getheaders())
        body = r.read()
        c.close()
        return None, r.status, h, body
    first = None
    buf = b''
    while True:
        chunk = r.read1(65536) if hasattr(r, 'read1') else r.read(1)
        if not chunk:
            break
        buf += chunk
        if first is None and b'"content":"' in buf:
            first = time.time() - t0
    c.close()
    assert buf.rstrip().endswith(b'data: [DONE]'), buf[-200:]
    return first, 200, {}, b''


def p95(xs):
    xs = sorted(xs)
    return xs[max(0, int(round(0.95 * len(xs))) - 1)]


GREEDY = r"""
import http.client, json, os, sys, threading, time
port, stop_file = int(sys.argv[1]), sys.argv[2]
res, lock = [], threading.Lock()
def loop():
    t_end = time.time() + 120
    while not os.path.exists(stop_file) and time.time() < t_end:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        c.request('POST', '/v1/chat/completions', json.dumps({'model': 'stories260K', 'max_tokens': 24,
                  'messages': [{'role': 'user', 'content': 'Once upon a time'}]}),
                  {'Content-Type': 'application/json', 'x-openclaw-agent-id': 'greedy'})
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        with lock:
            res.append([r.status, r.getheader('Retry-After'), body if r.status != 200 else ''])
        if r.status != 200:
            time.sleep(0.02)
ts = [threading.Thread(target=loop) for _ in range(10)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(res))
"""


def run_bots(s, n_bots, n_req, greedy):
    """n_bots polite bots (one request at a time, named bot-N) and, with
    greedy, one bot in its own process sending ten at a time and ignoring
    Retry-After but for a 20 ms pause. Returns (the polite bots' server-side
    times to first token — queue wait plus prefill, from the request log —,
    their client-side ones, their statuses, the greedy bot's results)."""
    import subprocess, sys
    ttfts, statuses = [], []
    lock = threading.Lock()
    n_log = len(log_lines(s))

    def polite(i):
        for _ in range(n_req):
            t, st, h, body = ttft_stream(s.port, f'bot-{i}', 24)
            with lock:
                statuses.append((st, h, body))
                if t is not None:
                    ttfts.append(t)
            if st == 429:
                time.sleep(check_retry_after(h))
            time.sleep(0.03)
    stop_file = f'/tmp/lmx-greedy-stop-{s.port}'
    if os.path.exists(stop_file):
        os.unlink(stop_file)
    g = subprocess.Popen([sys.executable, '-c', GREEDY, str(s.port), stop_file],
                         stdout=subprocess.PIPE, text=True) if greedy else None
    if g:
        time.sleep(0.5)  # the greedy bot is at full speed before the polite ones start
    ps = [threading.Thread(target=polite, args=(i,)) for i in range(n_bots)]
    for t in ps:
        t.start()
    for t in ps:
        t.join(120)
    assert not any(t.is_alive() for t in ps), 'a request hung'
    greedy_res = []
    if g:
        open(stop_file, 'w').close()
        out, _ = g.communicate(timeout=120)
        os.unlink(stop_file)
        greedy_res = json.loads(out)
    for _ in range(100):  # a request's log line is written just after its last byte
        # (the client saw every stream end with [DONE]; the log may say 499 when it hung up
        # a moment before the server noted the last chunk as sent)
        server = [(l['queue_ms'] + l['prefill_ms']) / 1e3 for l in log_lines(s)[n_log:]
                  if l.get('client', '').startswith('agent:bot-') and 'queue_ms' in l]
        if len(server) >= n_bots * n_req:
            break
        time.sleep(0.05)
    # every request's answer was checked above; the log's timing of one may still be in flight
    assert len(server) >= n_bots * n_req - 2, (len(server), n_bots * n_req)
    return server, ttfts, statuses, greedy_res


@test
def a_greedy_bot_is_throttled_and_does_not_slow_eight_polite_ones():
    # capacity for the polite bots plus the greedy one's cap of 2 in flight
    with Server('--parallel', 10, '--queue', 32, '--client-max-inflight', 2, '-t', 1) as s:
        run_bots(s, 8, 2, False)  # warm-up
        for attempt in (1, 2, 3):  # load spikes of the shared machine get two more tries
            base, base_c, base_st, _ = run_bots(s, 8, 10, False)
            loaded, loaded_c, loaded_st, greedy = run_bots(s, 8, 10, True)
            base2, base2_c, _, _ = run_bots(s, 8, 10, False)
            for st, h, body in base_st + loaded_st:
                assert st == 200, (st, body)
            g_codes = [r[0] for r in greedy]
            assert set(g_codes) <= {200, 429}, g_codes
            throttled = [r for r in greedy if r[0] == 429]
            assert throttled, 'the greedy bot was never throttled'
            for st, ra, body in throttled:
                assert ra and ra.isdigit() and 1 <= int(ra) <= 59, ra
                assert json.loads(body)['error']['code'] == 'rate_limited', body
            assert len(greedy) >= 10 * 8, f'the greedy bot sent {len(greedy)} requests, not 10x a polite one'
            b = max(p95(base), p95(base2))  # baselines before and after: the machine drifts
            l = p95(loaded)
            print(f'  polite p95 TTFT (server: queue + prefill): {p95(base) * 1e3:.2f} / '
                  f'{p95(base2) * 1e3:.2f} ms alone (before / after), {l * 1e3:.2f} ms beside the '
                  f'greedy bot; client-side {max(p95(base_c), p95(base2_c)) * 1e3:.1f} ms / '
                  f'{p95(loaded_c) * 1e3:.1f} ms; greedy: {len(greedy)} requests, '
                  f'{len(throttled)} throttled')
            # 10 ms of slack: stories260K's polite TTFT is 1-2 ms, where a prefill mostly waits
            # for the decode step in flight, which the greedy bot's two sequences lengthen;
            # starving the polite bots (a queue behind the greedy one) costs tens of ms and more
            if l <= 1.5 * b + 0.010:
                break
            assert attempt < 3, (b, l)
        s.stop()


def tenant_tokens(port):
    _, m = get(port, '/metrics', {'Authorization': 'Bearer sk-gold'})
    out = {}
    for t in ('gold', 'silver'):
        mm = re.search(r'lmx_tenant_completion_tokens_total\{tenant="%s"\} (\d+)' % t, m)
        out[t] = int(mm.group(1)) if mm else 0
    return out


@test
def tenants_weighted_3_to_1_get_decode_tokens_3_to_1_under_saturation():
    with Server('--parallel', 2, '--queue', 64, '-t', 1,
                '--tenants', 'gold:weight=3;silver:weight=1',
                '--api-keys', f'gold:{sha("sk-gold")};silver:{sha("sk-silver")}', model=SYNTH) as s:
        stop = threading.Event()
        errors = []

        def loop(key, i):
            while not stop.is_set():
                st, j, h = post(s.port, '/v1/chat/completions',
                                {'model': 'llama-f32', 'max_tokens': 256,
                                 'messages': [{'role': 'user', 'content': 'a'}]},
                                {'Authorization': f'Bearer {key}', 'x-openclaw-agent-id': f'{key}-{i}'})
                if st != 200:
                    errors.append((st, j))
        ts = [threading.Thread(target=loop, args=(k, i)) for k in ('sk-gold', 'sk-silver') for i in range(12)]
        for t in ts:
            t.start()
        time.sleep(3)
        a = tenant_tokens(s.port)
        both, samples = 0, 0
        t_end = time.time() + 15
        while time.time() < t_end:  # saturated: both tenants have requests waiting
            q = json.loads(get(s.port, '/admin/tenants', admin_headers())[1])['queues']['llama-f32']['by_tenant']
            both += q.get('gold', 0) > 0 and q.get('silver', 0) > 0
            samples += 1
            time.sleep(0.5)
        b = tenant_tokens(s.port)
        stop.set()
        for t in ts:
            t.join(60)
        s.stop()
    assert not errors, errors[:3]
    g, sv = b['gold'] - a['gold'], b['silver'] - a['silver']
    print(f'  decode tokens in 15 s: gold {g}, silver {sv}, ratio {g / max(sv, 1):.2f}; both tenants '
          f'waiting in {both}/{samples} samples')
    assert both >= 0.8 * samples, f'not saturated: both tenants waited in only {both}/{samples} samples'
    assert sv > 500 and 2.7 <= g / sv <= 3.3, (g, sv)


@test
def internet_profile_refuses_to_start_without_tls_and_says_why():
    for args, want in [(('--profile', 'internet'), 'requires inference keys'),
                       (('--profile', 'internet', '--api-key', 'k'), 'requires TLS'),
                       (('--profile', 'trusted-gateway', '--api-key', 'k'), 'requires trusted_proxies'),
                       (('--profile', 'moon'), 'not a profile'),
                       (('--tenants', 'a:weight=0'), 'weight must be'),
                       (('--api-keys', 'a:sk-plaintext'), 'SHA-256'),
                       (('--trusted-proxies', '10.0.0.0/99'), 'prefix longer')]:
        p = lmx('serve', '--port', 0, '--tenancy-db', ':memory:', *args, check=False, timeout=30)
        assert p.returncode == 2 and want in p.stderr, (args, p.returncode, p.stderr)


if __name__ == '__main__':
    main()
