#!/usr/bin/env python3
"""70 hostile GGUF files (tests/e2e/hostile_gguf.py: truncations, absurd counts
and dimensions, bad types and offsets, empty or short vocabularies, zero heads,
NaN epsilon, hostile templates) loaded one by one through the admin API of the
sanitizer build (build-asan/lmx, made by `make asan`, which .ci/run does first;
LMX_ASAN_BIN to point elsewhere; without it, build/lmx with a note), each then asked for a chat completion when it loaded: every answer
is a JSON status, the daemon stays up, and its log holds no AddressSanitizer,
UndefinedBehaviorSanitizer or LeakSanitizer report. Bounded: each request has a
deadline, the whole run a couple of minutes at most."""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.error, urllib.request

from harness import LMX, ROOT, admin_headers, main, test
from server_util import Server

ASAN = os.environ.get('LMX_ASAN_BIN') or os.path.join(ROOT, 'build-asan', 'lmx')
SAN_MARKS = ('AddressSanitizer', 'runtime error:', 'LeakSanitizer', 'UndefinedBehaviorSanitizer')


def call(port, method, path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f'http://127.0.0.1:{port}{path}', data=data, method=method,
                                 headers={'Content-Type': 'application/json', **admin_headers()})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@test
def sanitizer_build_loads_70_hostile_ggufs_without_a_report():
    binary = ASAN
    if not os.access(ASAN, os.X_OK):
        print(f'  note: {ASAN} is missing (`make asan` builds it; CI does): checking {LMX} instead',
              file=sys.stderr)
        binary = LMX
    d = tempfile.mkdtemp(prefix='lmx-hostile-')
    env = dict(os.environ,
               ASAN_OPTIONS='detect_leaks=1:abort_on_error=0:exitcode=66',
               UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1:exitcode=67')
    try:
        n = int(subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'e2e', 'hostile_gguf.py'), d],
                               check=True, stdout=subprocess.PIPE, text=True).stdout)
        assert n == 70, n
        names = sorted(f[:-5] for f in os.listdir(d) if f.endswith('.gguf'))
        t0 = time.time()
        s = Server('--models-dir', d, '-c', 64, '--parallel', 1, '-t', 1, '--memory-reserve', 0,
                   model=None, env=env, binary=binary)
        outcomes = {}
        try:
            st, j = call(s.port, 'GET', '/admin/models', timeout=120)
            assert st == 200 and len(j['data']) == 70, (st, len(j.get('data', [])))
            for name in names:
                st, j = call(s.port, 'POST', '/admin/models/load', {'model': name})
                assert isinstance(j, dict) and (st == 200 or 'error' in j), (name, st, j)
                assert st in (200, 400, 404, 409, 422, 507), (name, st, j)
                outcomes[name] = st
                if st == 200:
                    st2, j2 = call(s.port, 'POST', '/v1/chat/completions',
                                   {'model': name, 'max_tokens': 2,
                                    'messages': [{'role': 'user', 'content': 'hi'}]})
                    assert st2 == 200 or (400 <= st2 < 500 and 'error' in j2), (name, st2, j2)
                    outcomes[name] = (200, st2)
                    call(s.port, 'POST', '/admin/models/unload', {'model': name})
                assert s.p.poll() is None, (name, s.logs()[-3000:])
            assert call(s.port, 'GET', '/health')[0] == 200
            rc = s.stop()
        finally:
            if s.p.poll() is None:
                s.p.kill()
                s.p.wait()
        log = s.logs()
        for mark in SAN_MARKS:
            assert mark not in log, log[log.index(mark) - 2000:log.index(mark) + 3000]
        assert rc == 0, (rc, log[-3000:])
        refused = sum(1 for v in outcomes.values() if v != 200 and not isinstance(v, tuple))
        print(f'  70 hostile files in {time.time() - t0:.1f} s: {refused} refused at load, '
              f'{70 - refused} loaded (then chat answered or refused)', file=sys.stderr)
    finally:
        shutil.rmtree(d)


if __name__ == '__main__':
    main()
