#!/usr/bin/env python3
"""Downloads from a (fake) Hugging Face hub through the daemon's admin API and
`lmx pull`: the real build/lmx against tests/e2e/fakehub.py on 127.0.0.1, which
HF_ENDPOINT points the daemon at."""
import hashlib, json, os, shutil, signal, subprocess, tempfile, time

from fakehub import standard_hub
from harness import LMX, admin_headers, lmx, main, test
from server_util import Server, parse_sse

HUB = standard_hub()
STORIES_REPO = 'lmx-test/stories260K-GGUF'
SYNTH_REPO = 'lmx-test/synth-llama-GGUF'


def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def hub_file(repo, path):
    return HUB.repos[repo]['files'][path]


def registered(st):
    """The download finished: verified, in the store, with a model id."""
    assert st['state'] == 'completed' and st['model'] and st['error'] is None, st
    return True


class Daemon(Server):
    def __init__(self, models_dir, *args, env=None):
        old = dict(os.environ)
        os.environ.update({'HF_ENDPOINT': HUB.url, **(env or {})})
        if 'HF_TOKEN' not in (env or {}):
            os.environ.pop('HF_TOKEN', None)
        try:
            super().__init__('--models-dir', models_dir, *args, model=None)
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.models_dir = models_dir

    def start(self, body, expect=202):
        st, j, _, text = self.post('/admin/models/download', body)
        assert st == expect, (st, text)
        return j

    def status(self, dl_id):
        st, j, _, text = self.request('GET', f'/admin/models/download/{dl_id}')
        assert st == 200, (st, text)
        return j

    def wait(self, dl_id, timeout=60, until=None):
        t0 = time.time()
        while time.time() - t0 < timeout:
            j = self.status(dl_id)
            if until(j) if until else j['state'] in ('completed', 'failed', 'cancelled'):
                return j
            time.sleep(0.05)
        raise AssertionError(f'download {dl_id} still {j} after {timeout}s')


_tmp = tempfile.mkdtemp(prefix='lmx-dl-')
_daemon = None


def daemon():
    global _daemon
    if _daemon is None:
        _daemon = Daemon(os.path.join(_tmp, 'store'))
    return _daemon


def throttled(rate):
    class T:
        def __enter__(self):
            HUB.rate = rate

        def __exit__(self, *a):
            HUB.rate = 0
    return T()


@test
def pull_by_quant_checks_the_hash_and_places_the_file():
    d = daemon()
    j = d.start({'repo': STORIES_REPO, 'quant': 'f32'})
    assert j['id'].startswith('dl_') and j['state'] in ('queued', 'downloading', 'verifying', 'completed', 'failed'), j
    f = hub_file(STORIES_REPO, 'stories260K-F32.gguf')
    assert j['file'] == 'stories260K-F32.gguf' and j['total'] == f['size'], j
    st = d.wait(j['id'])
    registered(st)
    path = os.path.join(d.models_dir, STORIES_REPO, 'stories260K-F32.gguf')
    assert os.path.exists(path) and not os.path.exists(path + '.part')
    assert sha(path) == f['sha'], 'the stored file is not the hub file'
    assert st['bytes'] == st['total'] == f['size'] and st['quant'] == 'F32', st
    assert st['eta'] is None and st['rate'] == 0, st
    # the listing came from the tree API, the file's headers from its resolve URL
    assert HUB.seen('GET', '/api/models/lmx-test/stories260K-GGUF/tree/main'), HUB.requests[-5:]
    assert HUB.seen('HEAD', '/lmx-test/stories260K-GGUF/resolve/main/stories260K-F32.gguf')
    # asked again with the file in place: checked, not fetched again
    n_cdn = len(HUB.seen('GET', '/cdn/lmx-test/stories260K-GGUF/'))
    again = d.wait(d.start({'repo': STORIES_REPO, 'quant': 'F32'})['id'])
    # (whether the store accepts a second registration is the store's business)
    assert again['state'] == 'completed' or again['error'].startswith('The files are downloaded and verified'), again
    assert again['bytes'] == again['total'] == f['size'], again
    assert len(HUB.seen('GET', '/cdn/lmx-test/stories260K-GGUF/')) == n_cdn, 'downloaded twice'
    # listed among the downloads
    code, lst, _, _ = d.request('GET', '/admin/models/download')
    assert code == 200 and lst['object'] == 'list' and j['id'] in [x['id'] for x in lst['data']], lst
    assert st['model'] == f'{STORIES_REPO}:F32', st
    code, models, _, _ = d.request('GET', '/admin/models')
    m = [m for m in models['data'] if m['id'] == st['model']]
    assert code == 200 and len(m) == 1, models
    assert m[0]['sha256'] == f['sha'] and m[0]['source']['repo'] == STORIES_REPO, m
    code, _, _, metrics = d.request('GET', '/metrics')
    got = [l for l in metrics.splitlines() if l.startswith('lmx_download_bytes_total ')]
    assert code == 200 and got and int(got[0].split()[1]) >= f['size'], got
    # the daemon serves it: load it and ask it something
    code, ld, _, text = d.post('/admin/models/load', {'model': st['model'], 'ctx_size': 128})
    assert code == 200 and ld['state'] == 'ready', text
    code, r, _, text = d.post('/v1/completions', {'model': st['model'], 'prompt': 'Once', 'max_tokens': 4})
    assert code == 200 and r['choices'][0]['text'], text
    assert d.post('/admin/models/unload', {'model': st['model']})[0] == 200


@test
def repo_colon_quant_form_and_split_model_fetched_as_one():
    d = daemon()
    j = d.start({'repo': SYNTH_REPO + ':q4_0'})
    assert j['files'] == ['split/synth-llama-Q4_0-00001-of-00002.gguf',
                          'split/synth-llama-Q4_0-00002-of-00002.gguf'], j
    st = d.wait(j['id'])
    registered(st)
    for name in j['files']:
        path = os.path.join(d.models_dir, SYNTH_REPO, name)
        assert sha(path) == hub_file(SYNTH_REPO, name)['sha'], name
    assert st['total'] == sum(hub_file(SYNTH_REPO, n)['size'] for n in j['files']), st
    # one model in the store, made of both shards, and it loads
    assert st['model'] == f'{SYNTH_REPO}:Q4_0', st
    code, models, _, _ = d.request('GET', '/admin/models')
    m = [m for m in models['data'] if m['id'] == st['model']]
    assert code == 200 and len(m) == 1 and len(m[0]['files']) == 2, models
    assert not [x for x in models['data'] if '00002-of-00002' in x['id']], models
    code, ld, _, text = d.post('/admin/models/load', {'model': st['model'], 'ctx_size': 64})
    assert code == 200 and ld['state'] == 'ready', text
    assert d.post('/admin/models/unload', {'model': st['model']})[0] == 200


@test
def file_whose_bytes_do_not_match_the_hash_is_rejected_and_not_left():
    d = daemon()
    j = d.start({'repo': 'lmx-test/broken-GGUF', 'quant': 'Q8_0'})
    st = d.wait(j['id'])
    assert st['state'] == 'failed' and 'sha256 mismatch' in st['error'], st
    assert hub_file('lmx-test/broken-GGUF', 'broken-Q8_0.gguf')['sha'] in st['error'], st
    folder = os.path.join(d.models_dir, 'lmx-test', 'broken-GGUF')
    assert os.listdir(folder) == [], os.listdir(folder)  # neither .gguf nor .part
    assert st['model'] is None, st
    code, models, _, _ = d.request('GET', '/admin/models')
    if code == 200:
        assert not any('broken' in m['id'] for m in models['data']), models


@test
def renamed_repo_redirects_are_followed_on_the_hub():
    d = daemon()
    j = d.start({'repo': 'lmx-test/old-stories-GGUF', 'quant': 'F32'})
    st = d.wait(j['id'])
    registered(st)
    path = os.path.join(d.models_dir, 'lmx-test', 'old-stories-GGUF', 'stories260K-F32.gguf')
    assert sha(path) == hub_file(STORIES_REPO, 'stories260K-F32.gguf')['sha']
    assert HUB.seen('HEAD', '/lmx-test/old-stories-GGUF/resolve/main/')


@test
def an_expired_cdn_link_is_resolved_again_and_retried():
    d = daemon()
    HUB.fail_cdn = 1
    n_before = len(HUB.requests)
    j = d.start({'repo': SYNTH_REPO, 'file': 'mmproj-synth-Q8_0.gguf'})
    st = d.wait(j['id'])
    HUB.fail_cdn = 0
    assert st['state'] == 'completed' or st['error'].startswith('The files are downloaded and verified'), st
    reqs = HUB.requests[n_before:]
    assert len([r for r in reqs if r[1].startswith('/cdn/')]) == 2, reqs
    assert len([r for r in reqs if r[0] == 'HEAD' and '/resolve/' in r[1]]) >= 3, reqs  # start + 2 attempts


@test
def unknown_repo_is_404_with_a_clear_message():
    d = daemon()
    st, j, _, _ = d.post('/admin/models/download', {'repo': 'nobody/no-such-model-GGUF', 'quant': 'Q4_K_M'})
    assert st == 404 and j['error']['code'] == 'repo_not_found', j
    assert 'nobody/no-such-model-GGUF' in j['error']['message'] and 'not found' in j['error']['message'], j


@test
def unknown_quant_or_file_is_404_listing_the_ggufs():
    d = daemon()
    st, j, _, _ = d.post('/admin/models/download', {'repo': STORIES_REPO, 'quant': 'Q4_K_M'})
    assert st == 404 and j['error']['code'] == 'file_not_found', j
    assert 'stories260K-F32.gguf' in j['error']['message'], j
    st, j, _, _ = d.post('/admin/models/download', {'repo': STORIES_REPO, 'file': 'nope.gguf'})
    assert st == 404 and j['error']['code'] == 'file_not_found' and 'nope.gguf' in j['error']['message'], j


@test
def bad_requests_are_400():
    d = daemon()
    for body, param in [({}, 'repo'), ({'repo': '../etc'}, 'repo'), ({'repo': 'a/b', 'file': '../x.gguf'}, 'file'),
                        ({'repo': 'a/b', 'quant': 3}, 'quant'), ({'repo': 'a/b', 'file': 'x', 'quant': 'Q8_0'}, 'file')]:
        st, j, _, text = d.post('/admin/models/download', body)
        assert st == 400 and j['error']['param'] == param, (body, text)
    st, j, _, _ = d.request('GET', '/admin/models/download/dl_0000')
    assert st == 404 and j['error']['code'] == 'download_not_found', j


@test
def too_big_for_the_disk_is_507_insufficient_storage():
    d = daemon()
    st, j, _, _ = d.post('/admin/models/download', {'repo': 'lmx-test/huge-GGUF', 'quant': 'Q8_0'})
    assert st == 507 and j['error']['code'] == 'insufficient_storage', j
    assert str(1 << 60) in j['error']['message'] and 'free' in j['error']['message'], j


@test
def cancel_stops_the_download_and_deletes_the_part_file():
    d = daemon()
    with throttled(100_000):
        j = d.start({'repo': SYNTH_REPO, 'quant': 'Q8_0'})
        d.wait(j['id'], until=lambda s: s['bytes'] > 0)
        again = d.start({'repo': SYNTH_REPO, 'file': 'synth-llama-Q8_0.gguf'})
        assert again['id'] == j['id'], 'a second download of the same file would share its .part'
        st, c, _, text = d.request('DELETE', f"/admin/models/download/{j['id']}")
    assert st == 200 and c['state'] == 'cancelled', text
    folder = os.path.join(d.models_dir, SYNTH_REPO)
    assert not [n for n in os.listdir(folder) if n.startswith('synth-llama-Q8_0')], os.listdir(folder)
    assert d.status(j['id'])['state'] == 'cancelled'
    st, c, _, _ = d.request('DELETE', f"/admin/models/download/{j['id']}")
    assert st == 200 and c['state'] == 'cancelled'
    st, c, _, _ = d.request('DELETE', '/admin/models/download/dl_0123')
    assert st == 404 and c['error']['code'] == 'download_not_found', c


@test
def two_downloads_run_at_once_and_a_third_waits_its_turn():
    with throttled(50_000), Daemon(os.path.join(_tmp, 'queue')) as d:
        ids = [d.start({'repo': r, 'quant': q})['id'] for r, q in
               ((STORIES_REPO, 'F32'), (SYNTH_REPO, 'Q8_0'), (SYNTH_REPO, 'Q4_0'))]
        d.wait(ids[1], until=lambda s: s['bytes'] > 0)
        d.wait(ids[0], until=lambda s: s['bytes'] > 0)
        states = [d.status(i)['state'] for i in ids]
        assert states == ['downloading', 'downloading', 'queued'], states
        st, c, _, _ = d.request('DELETE', f'/admin/models/download/{ids[0]}')
        assert st == 200 and c['state'] == 'cancelled'
        d.wait(ids[2], until=lambda s: s['state'] == 'downloading')  # took the freed worker
        for i in ids[1:]:
            assert d.request('DELETE', f'/admin/models/download/{i}')[0] == 200
        assert [d.status(i)['state'] for i in ids] == ['cancelled'] * 3
        left = [f for _, _, fs in os.walk(os.path.join(d.models_dir, 'lmx-test')) for f in fs]
        assert left == [], left


@test
def progress_stream_reports_rate_and_ends_with_a_final_state():
    d = daemon()
    shutil.rmtree(os.path.join(d.models_dir, STORIES_REPO), ignore_errors=True)
    with throttled(400_000):
        j = d.start({'repo': STORIES_REPO, 'file': 'stories260K-F32.gguf'})
        c = d.conn(60)
        c.request('GET', f"/admin/models/download/{j['id']}/events", headers=admin_headers())
        r = c.getresponse()
        assert r.status == 200 and r.getheader('Content-Type').startswith('text/event-stream')
        raw = r.read().decode()
        c.close()
    events, _ = parse_sse(raw)
    assert len(events) >= 3 and all(e['id'] == j['id'] for e in events), raw[:500]
    registered(events[-1])
    moving = [e for e in events if e['state'] == 'downloading' and e['rate'] > 0]
    assert moving and any(e['eta'] is not None for e in moving), events
    assert 150_000 < max(e['rate'] for e in moving) < 2_000_000, [e['rate'] for e in moving]
    assert [e['bytes'] for e in events] == sorted(e['bytes'] for e in events), 'bytes went backwards'


@test
def daemon_killed_mid_download_resumes_with_a_range_request():
    store = os.path.join(_tmp, 'resume')
    name = 'synth-llama-Q8_0.gguf'
    f = hub_file(SYNTH_REPO, name)
    part = os.path.join(store, SYNTH_REPO, name + '.part')
    with throttled(150_000):
        with Daemon(store) as d1:
            j = d1.start({'repo': SYNTH_REPO, 'quant': 'Q8_0'})
            d1.wait(j['id'], until=lambda s: s['bytes'] > 300_000)
            d1.p.send_signal(signal.SIGKILL)
            d1.p.wait()
    got = os.path.getsize(part)
    assert 0 < got < f['size'], got
    assert os.path.exists(os.path.join(store, '.lmx', 'downloads', j['id'] + '.json'))
    n_before = len(HUB.requests)
    with Daemon(store) as d2:
        st = d2.wait(j['id'])
        registered(st)
    cdn = [r for r in HUB.requests[n_before:] if r[0] == 'GET' and r[1].startswith('/cdn/')]
    assert cdn and cdn[0][2].get('Range', '').startswith('bytes='), cdn
    start = int(cdn[0][2]['Range'][6:-1])
    assert 0 < start <= got, (start, got)
    resolved = [r for r in HUB.requests[n_before:] if r[0] == 'HEAD' and '/resolve/' in r[1]]
    assert resolved, 'the URL was not resolved again after the restart'
    # ... at the commit 'main' resolved to when the download started
    assert all(f'/resolve/{HUB.commit(SYNTH_REPO)}/' in r[1] for r in resolved), resolved
    assert st['revision'] == 'main' and st['commit'] == HUB.commit(SYNTH_REPO), st
    path = os.path.join(store, SYNTH_REPO, name)
    assert sha(path) == f['sha'] and not os.path.exists(part)


@test
def sigterm_mid_download_exits_promptly_and_keeps_the_part_for_later():
    store = os.path.join(_tmp, 'sigterm')
    with throttled(100_000):
        with Daemon(store) as d:
            j = d.start({'repo': STORIES_REPO, 'quant': 'F32'})
            d.wait(j['id'], until=lambda s: s['bytes'] > 50_000)
            t0 = time.time()
            assert d.stop(timeout=30) == 0, d.logs()[-2000:]
            assert time.time() - t0 < 10, 'shutdown waited for the download'
            log = d.logs()
    assert 'Sanitizer' not in log and 'runtime error' not in log, log[-3000:]
    part = os.path.join(store, STORIES_REPO, 'stories260K-F32.gguf.part')
    assert os.path.getsize(part) > 0
    rec = json.load(open(os.path.join(store, '.lmx', 'downloads', j['id'] + '.json')))
    assert rec['state'] == 'downloading' and rec['files'][0]['name'] == 'stories260K-F32.gguf', rec


@test
def gated_repo_needs_hf_token_and_the_token_stays_on_the_hub_host():
    d = daemon()
    st, j, _, _ = d.post('/admin/models/download', {'repo': 'lmx-test/gated-GGUF', 'quant': 'Q8_0'})
    assert st == 403 and j['error']['code'] == 'repo_forbidden' and 'HF_TOKEN' in j['error']['message'], j
    # resolve redirects to another host name (localhost): the CDN must not see the token
    n_before = len(HUB.requests)
    HUB.cdn_base = HUB.url.replace('127.0.0.1', 'localhost')
    try:
        with Daemon(os.path.join(_tmp, 'gated'), env={'HF_TOKEN': 'hf_secret_token'}) as g:
            j = g.start({'repo': 'lmx-test/gated-GGUF', 'quant': 'Q8_0'})
            registered(g.wait(j['id']))
    finally:
        HUB.cdn_base = ''
    reqs = HUB.requests[n_before:]
    api = [r for r in reqs if r[1].startswith('/api/') or '/resolve/' in r[1]]
    assert api and all(r[2].get('Authorization') == 'Bearer hf_secret_token' for r in api), api
    cdn = [r for r in reqs if r[1].startswith('/cdn/')]
    assert cdn and all('Authorization' not in r[2] for r in cdn), cdn
    assert all(r[2].get('Host', '').startswith('localhost') for r in cdn), cdn


@test
def admin_key_guards_the_download_routes():
    with Daemon(os.path.join(_tmp, 'keyed'), '--admin-key', 'k3y') as d:
        st, j, _, _ = d.post('/admin/models/download', {'repo': STORIES_REPO})
        assert st == 401, j
        st, j, _, _ = d.request('GET', '/admin/models/download', headers={'X-Admin-Key': 'k3y'})
        assert st == 200 and j['data'] == [], j


@test
def lmx_pull_prints_progress_and_exits_0():
    store = os.path.join(_tmp, 'cli')
    with throttled(500_000), Daemon(store) as d:
        p = lmx('pull', f'{STORIES_REPO}:F32', '--host', '127.0.0.1', '--port', d.port, check=False, timeout=120)
        lines = p.stderr.splitlines()
        assert any(l.startswith('downloading') and '%' in l for l in lines), p.stderr
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == f'pulled stories260K-F32.gguf (1.1 MiB) as {STORIES_REPO}:F32', p.stdout
        assert sha(os.path.join(store, STORIES_REPO, 'stories260K-F32.gguf')) == hub_file(STORIES_REPO, 'stories260K-F32.gguf')['sha']
        # --json prints the final DL_STATUS; LMX_HOST gives the address
        env = dict(os.environ, LMX_HOST=f'127.0.0.1:{d.port}')
        p = lmx('pull', SYNTH_REPO, '--file', 'synth-llama-Q8_0.gguf', '--json', '-q', check=False, env=env)
        st = json.loads(p.stdout)
        registered(st)
        assert p.returncode == 0 and st['model'] == f'{SYNTH_REPO}:Q8_0', (p.returncode, st)
        assert st['file'] == 'synth-llama-Q8_0.gguf' and st['bytes'] == st['total'], st
        p = lmx('pull', 'nobody/nothing-GGUF:Q4_K_M', check=False, env=env)
        assert p.returncode == 1 and 'repo_not_found' in p.stderr and 'nobody/nothing-GGUF' in p.stderr, p.stderr
    p = lmx('pull', 'a/b', '--port', 1, check=False)
    assert p.returncode == 1 and 'cannot reach the daemon' in p.stderr, p.stderr


@test
def lmx_pull_on_a_terminal_draws_a_progress_bar():
    import pty, select
    store = os.path.join(_tmp, 'tty')
    with throttled(300_000), Daemon(store) as d:
        master, slave = pty.openpty()
        p = subprocess.Popen([LMX, 'pull', f'{STORIES_REPO}:F32', '--port', str(d.port)], stdout=subprocess.PIPE,
                             stderr=slave, text=True)
        os.close(slave)
        tty = b''
        while True:
            r, _, _ = select.select([master], [], [], 60)
            try:
                chunk = os.read(master, 65536) if r else b''
            except OSError:  # the child closed the terminal
                chunk = b''
            if not chunk:
                break
            tty += chunk
        out = p.communicate(timeout=60)[0]
        os.close(master)
    text = tty.decode('utf-8', 'replace')
    frames = [f for f in text.split('\r') if '[' in f]
    assert len(frames) >= 3 and any('#' in f and '.' in f for f in frames), text[:2000]
    assert any('downloading' in f and '/s' in f and 'eta' in f for f in frames), text[:2000]
    assert p.returncode == 0 and out.startswith('pulled '), (p.returncode, out, text[-500:])


@test
def daemon_after_all_of_that_stops_cleanly():
    global _daemon
    d = daemon()
    assert d.stop(timeout=30) == 0
    log = d.logs()
    _daemon = None
    assert 'Sanitizer' not in log and 'runtime error' not in log, log[-3000:]


if __name__ == '__main__':
    try:
        main()
    finally:
        if _daemon:
            _daemon.stop()
        HUB.close()
        shutil.rmtree(_tmp, ignore_errors=True)
