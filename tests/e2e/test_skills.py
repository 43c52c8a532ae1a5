"""Skills end to end: versions and selectors, argument validation, the exec
sandbox against hostile skills, overload, the MCP bridge both ways with real
npm implementations, the server-side skill loop of chat completions, metrics
and the CLI — all through build/lmx serve.

The skills come from tests/e2e/fixtures/skills (copied to a temp dir the
sandbox user can read); the MCP pieces are the official TypeScript SDK's
client (tests/e2e/mcp/client.mjs) and @modelcontextprotocol/server-everything,
installed from tests/e2e/mcp's lock file on first run."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, lmx, main, test
from server_util import Server, free_port, gguf_with_template

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures', 'skills')
MCP_DIR = os.path.join(HERE, 'mcp')
EVERYTHING = os.path.join(MCP_DIR, 'node_modules', '@modelcontextprotocol', 'server-everything',
                          'dist', 'index.js')
QWEN = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
EOS_BIAS = {'151645': 100, '151643': 100}  # <|im_end|>, <|endoftext|>

_st = {}


def ensure_mcp_deps():
    if os.path.exists(EVERYTHING) and os.path.isdir(os.path.join(MCP_DIR, 'node_modules', '@modelcontextprotocol', 'sdk')):
        return
    npm = shutil.which('npm')
    assert npm, 'npm is not installed (scripts/install-deps.sh installs it)'
    subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=MCP_DIR, check=True,
                   stdout=subprocess.DEVNULL, timeout=300)


def wait_port(port, proc, secs=60):
    t = time.time()
    while time.time() - t < secs:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return
        except OSError:
            assert proc.poll() is None, f'exited {proc.returncode}'
            time.sleep(0.1)
    raise AssertionError(f'nothing listens on {port}')


def start_everything_http(port):
    p = subprocess.Popen(['node', EVERYTHING, 'streamableHttp'], env=dict(os.environ, PORT=str(port)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=MCP_DIR)
    wait_port(port, p)
    return p


def setup():
    """One daemon for every test: the fixture skills, two MCP servers (stdio and HTTP),
    the synthetic tool model with Qwen3-Coder's template."""
    if _st:
        return _st
    ensure_mcp_deps()
    d = tempfile.mkdtemp(prefix='lmx-skills-e2e-')
    skills = os.path.join(d, 'skills')
    shutil.copytree(FIXTURES, skills)
    # the sandbox runs skills as nobody: the directory must be readable by it
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    secret_dir = os.path.join(d, 'secret')
    os.makedirs(secret_dir)
    os.chmod(secret_dir, 0o755)
    with open(os.path.join(secret_dir, 'data.txt'), 'w') as f:
        f.write('allowed-data')
    os.chmod(os.path.join(secret_dir, 'data.txt'), 0o644)
    with open(os.path.join(skills, 'hostile', 'reader.yaml'), 'w') as f:
        f.write('name: hostile/reader\nversion: 1.0.0\ninput_schema: {type: object}\n'
                'executor: {type: exec, command: [python3, hostile.py, read]}\n'
                f'sandbox: {{profile: standard, read_paths: ["{secret_dir}"]}}\n')
    with open(os.path.join(skills, 'broken.yaml'), 'w') as f:
        f.write('name: demo/broken\nversion: 1.0.0\ninput_schema:\n  type: object\n'
                '  properties:\n    a: {type: strng}\nexecutor: {type: exec, command: [x]}\n')
    http_port = free_port()
    _st['ev_http_port'] = http_port
    _st['ev_http'] = start_everything_http(http_port)
    with open(os.path.join(skills, 'mcp-stdio.yaml'), 'w') as f:
        f.write(f'mcp_server: everything\ncommand: [node, "{EVERYTHING}", stdio]\n')
    with open(os.path.join(skills, 'mcp-http.yaml'), 'w') as f:
        f.write(f'mcp_server: evhttp\nurl: http://127.0.0.1:{http_port}/mcp\n')
    tmpl = open(os.path.join(SHARED, 'templates', 'Qwen3-Coder.jinja')).read()
    model = os.path.join(d, 'coder.gguf')
    gguf_with_template(QWEN, model, tmpl)
    env = dict(os.environ, LMX_SKILLS_QUEUE='0')
    s = Server('-c', 2048, '-t', 2, '--parallel', 1, '--skills-dir', skills, model=model, env=env)
    wait_port(s.port, s.p, 120)  # a loaded machine may take longer than Server waits
    _st.update(dir=d, skills=skills, server=s, secret=os.path.join(secret_dir, 'data.txt'))
    # the MCP servers are connected in the background: their tools appear when they answer
    deadline = time.time() + 90
    while time.time() < deadline:
        names = [x['name'] for x in s.request('GET', '/v1/skills')[1]['data']]
        if 'mcp/everything/echo' in names and 'mcp/evhttp/echo' in names:
            break
        time.sleep(0.3)
    return _st


def invoke(ref, args, timeout=120):
    s = setup()['server']
    return s.post(f'/v1/skills/{ref}/invoke', {'arguments': args}, timeout=timeout)


def error_of(st, b, status, code):
    assert st == status, (st, b)
    assert b['error']['code'] == code, b
    return b['error']


@test
def each_version_selector_resolves_as_documented():
    cases = [('demo/echo', '2.0.0'), ('demo/echo@latest', '2.0.0'), ('demo/echo@1', '1.2.5'),
             ('demo/echo@1.2', '1.2.5'), ('demo/echo@1.2.0', '1.2.0'), ('demo/echo@1.0', '1.0.0'),
             ('demo/echo@2', '2.0.0'), ('demo/echo@2.1.0-beta.1', '2.1.0-beta.1')]
    for ref, want in cases:
        st, b, _, _ = invoke(ref, {'text': ref})
        assert st == 200, (ref, st, b)
        assert b['version'] == want and b['result'] == {'version': want, 'args': {'text': ref}}, (ref, b)
    s = setup()['server']
    st, b, _, _ = s.request('GET', '/v1/skills/demo/echo@1.2')
    assert st == 200 and b['version'] == '1.2.5' and b['name'] == 'demo/echo', b
    st, b, _, _ = s.request('GET', '/v1/skills')
    echo = [x for x in b['data'] if x['name'] == 'demo/echo'][0]
    assert echo['versions'] == ['2.1.0-beta.1', '2.0.0', '1.2.5', '1.2.0', '1.0.0'], echo
    assert echo['latest'] == '2.0.0' and echo['tool']['function']['name'] == 'demo__echo', echo
    assert echo['tool']['type'] == 'function' and echo['tool']['function']['parameters']['type'] == 'object'
    error_of(*invoke('demo/echo@3', {})[:2], 404, 'skill_not_found')
    error_of(*invoke('demo/echo@1.x', {})[:2], 400, 'invalid_skill')
    error_of(*invoke('demo/nothing', {})[:2], 404, 'skill_not_found')


GOOD = [
    {'query': 'cats', 'options': {'mode': 'fast'}},
    {'query': 'a b c', 'options': {'mode': 'exact', 'limit': 1}},
    {'query': 'x' * 40, 'options': {'mode': 'fuzzy', 'limit': 50}},
    {'query': 'q1', 'options': {'mode': 'fast', 'score': 0.5}},
    {'query': 'q2', 'options': {'mode': 'fast', 'since': '2024-02-29'}},
    {'query': 'q3', 'options': {'mode': 'fast', 'owner': 'ann@example.org'}},
    {'query': 'q4', 'options': {'mode': 'fast', 'tags': ['#a', '#bcd', '#z']}},
    {'query': 'q5', 'options': {'mode': 'fast', 'range': [1, 9]}},
    {'query': 'q6', 'options': {'mode': 'fast'}, 'lang': 'any'},
    {'query': 'q7', 'options': {'mode': 'fast'}, 'lang': 'fr', 'page': None},
    {'query': 'q8', 'options': {'mode': 'fast'}, 'page': 3},
    {'query': 'q9', 'options': {'mode': 'fast', 'limit': 2.0}},  # 2.0 is an integer (2020-12)
]
BAD = [  # arguments, {pointer: rule} expected exactly
    ({'options': {'mode': 'fast'}}, {'/query': 'required'}),
    ({'query': 'x'}, {'/options': 'required'}),
    ({}, {'/query': 'required', '/options': 'required'}),
    ({'query': '', 'options': {'mode': 'fast'}}, {'/query': 'minLength+pattern'}),
    ({'query': 'x' * 41, 'options': {'mode': 'fast'}}, {'/query': 'maxLength'}),
    ({'query': 'no-dashes!', 'options': {'mode': 'fast'}}, {'/query': 'pattern'}),
    ({'query': 7, 'options': {'mode': 'fast'}}, {'/query': 'type'}),
    ({'query': 'x', 'options': {'mode': 'slow'}}, {'/options/mode': 'enum'}),
    ({'query': 'x', 'options': {}}, {'/options/mode': 'required'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'limit': 0}}, {'/options/limit': 'minimum'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'limit': 51}}, {'/options/limit': 'maximum'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'limit': 1.5}}, {'/options/limit': 'type'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'score': 0}}, {'/options/score': 'exclusiveMinimum'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'score': 1}}, {'/options/score': 'exclusiveMaximum'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'since': '2023-02-29'}}, {'/options/since': 'format'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'since': 'yesterday'}}, {'/options/since': 'format'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'owner': 'not-an-email'}}, {'/options/owner': 'format'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'tags': []}}, {'/options/tags': 'minItems'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'tags': ['#a', '#b', '#c', '#d']}}, {'/options/tags': 'maxItems'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'tags': ['#a', 'B']}}, {'/options/tags/1': 'pattern'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'range': [1, 'b']}}, {'/options/range/1': 'type'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'range': [1, 2, 3]}}, {'/options/range/2': 'false'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'extra': 1}}, {'/options/extra': 'additionalProperties'}),
    ({'query': 'x', 'options': {'mode': 'fast'}, 'extra': True}, {'/extra': 'additionalProperties'}),
    ({'query': 'x', 'options': {'mode': 'fast'}, 'lang': 'fra'}, {'/lang': 'anyOf'}),
    ({'query': 'x', 'options': {'mode': 'fast'}, 'page': -1}, {'/page': 'minimum'}),
    ({'query': 'x', 'options': {'mode': 'fast'}, 'page': 'one'}, {'/page': 'type'}),
    ({'query': 'x', 'options': 'fast'}, {'/options': 'type'}),
    ({'query': 'x', 'options': {'mode': 'fast', 'a/b': 1}}, {'/options/a~1b': 'additionalProperties'}),
    ({'query': 'bad!', 'options': {'mode': 'nope', 'limit': 99, 'tags': ['x']}, 'z': 0},
     {'/query': 'pattern', '/options/mode': 'enum', '/options/limit': 'maximum',
      '/options/tags/0': 'pattern', '/z': 'additionalProperties'}),
]


@test
def thirty_argument_sets_bad_ones_400_with_their_pointers_good_ones_run():
    assert len(GOOD) + len(BAD) >= 30
    for args in GOOD:
        st, b, _, _ = invoke('demo/search', args)
        assert st == 200, (args, st, b)
        assert b['result'] == {'hits': [], 'query': args}, (args, b)
    for args, want in BAD:
        st, b, _, _ = invoke('demo/search', args)
        e = error_of(st, b, 400, 'invalid_arguments')
        got = {}
        for v in e['violations']:
            got[v['pointer']] = '+'.join(sorted(filter(None, [got.get(v['pointer']), v['rule']])))
        assert got == want, (args, got, want)
        assert all(v['message'] for v in e['violations']), e
        assert e['param'] == 'arguments' and e['skill'] == 'demo/search', e
    # arguments that are not an object, and a body without them
    error_of(*invoke('demo/search', [1, 2])[:2], 400, 'invalid_arguments')
    s = setup()['server']
    st, b, _, _ = s.post('/v1/skills/demo/search/invoke', {'args': {}})
    assert st == 400, (st, b)


@test
def output_breaking_its_schema_is_a_502_with_the_pointer():
    st, b, _, _ = invoke('demo/liar', {})
    e = error_of(st, b, 502, 'skill_bad_output')
    assert e['violations'] == [{'pointer': '/count', 'rule': 'type', 'message': 'expected integer, got string'}], e


def nobody_running():
    out = subprocess.run(['ps', '-eo', 'user=,stat=,args='], stdout=subprocess.PIPE, text=True).stdout
    return any(l.split()[0] in ('nobody', '65534') and not l.split()[1].startswith('Z') and 'hostile.py' in l
               for l in out.splitlines())


def nobody_processes():
    """Live processes of the sandbox user (zombies wait for init to reap them)."""
    for _ in range(50):
        out = subprocess.run(['ps', '-eo', 'user=,stat=,pid=,args='], stdout=subprocess.PIPE, text=True).stdout
        left = [l for l in out.splitlines()
                if l.split()[0] in ('nobody', '65534') and not l.split()[1].startswith('Z')]
        if not left:
            return left
        time.sleep(0.2)
    return left


@test
def hostile_skills_are_each_stopped_with_the_reason():
    st = setup()
    port = st['server'].port
    cases = [  # ref, args, status, code, what the message or stderr must say
        ('hostile/socket', {'port': port}, 502, 'skill_failed', 'PermissionError'),
        ('hostile/write', {}, 502, 'skill_failed', 'Read-only file system'),
        ('hostile/write', {'path': '/usr/pwned.txt'}, 502, 'skill_failed', 'Read-only file system'),
        ('hostile/read', {'path': st['secret']}, 502, 'skill_failed', 'No such file or directory'),
        ('hostile/read', {'path': '/etc/shadow'}, 502, 'skill_failed', 'No such file or directory'),
        ('hostile/forkbomb', {}, 504, 'skill_timeout', 'process group was killed'),
        ('hostile/alloc', {}, 502, 'skill_failed', 'memory limit'),
        ('hostile/spin', {}, 504, 'skill_timeout', 'ran past its 2 s timeout'),
        ('hostile/noterm', {}, 504, 'skill_timeout', 'ran past its 2 s timeout'),
        ('hostile/crash', {}, 502, 'skill_failed', 'exited with status 3'),
    ]
    for ref, args, status, code, why in cases:
        t0 = time.time()
        s, b, _, _ = invoke(ref, args)
        took = time.time() - t0
        e = error_of(s, b, status, code)
        text = e['message'] + '\n' + e.get('stderr', '')
        assert why in text, (ref, why, e)
        if status == 504:
            assert took < 30, (ref, took)  # 2-3 s timeout + 1 s grace, on a loaded machine
    e = error_of(*invoke('hostile/crash', {})[:2], 502, 'skill_failed')
    assert e['exit_status'] == 3 and e['stderr'].endswith('fatal: the widget exploded\n'), e
    assert 'step 1 ok' in e['stderr'], e
    # the daemon is unaffected: it answers, nothing of the sandboxes is left, a benign skill runs
    assert st['server'].request('GET', '/health')[0] == 200
    left = nobody_processes()
    assert not left, left
    s, b, _, _ = invoke('demo/echo', {'text': 'still fine'})
    assert s == 200 and b['result']['args'] == {'text': 'still fine'}, b


@test
def a_client_that_goes_away_cancels_the_invocation_and_its_process_group_is_killed():
    s = setup()['server']
    c = s.conn(10)
    c.request('POST', '/v1/skills/hostile/hang/invoke', body=json.dumps({'arguments': {}}),
              headers={'Content-Type': 'application/json'})
    deadline = time.time() + 20
    while time.time() < deadline and not nobody_running():
        time.sleep(0.1)
    assert nobody_running(), 'the skill never started'
    c.close()  # hang up; its timeout is 120 s
    left = nobody_processes()
    assert not left, left
    deadline = time.time() + 10
    while time.time() < deadline:
        text = s.request('GET', '/metrics')[3]
        if 'lmx_skill_sandbox_kills_total{skill="hostile/hang",reason="cancel"} 1' in text:
            break
        time.sleep(0.2)
    assert 'lmx_skill_sandbox_kills_total{skill="hostile/hang",reason="cancel"} 1' in text, text[-2000:]


@test
def standard_profile_reads_its_allowed_paths_and_loopback_is_its_own():
    st = setup()
    s, b, _, _ = invoke('hostile/reader', {'path': st['secret']})
    assert s == 200 and b['result'] == {'read': 'allowed-data'}, b
    s, b, _, _ = invoke('hostile/loopback', {'port': st['server'].port})
    assert s == 200, b
    # its own loopback works; the host's (where lmx listens) is another namespace
    assert b['result'] == {'own_loopback': True, 'host_port': 'ConnectionRefusedError'}, b


@test
def a_skill_at_its_concurrency_limit_with_the_queue_full_is_429_with_retry_after():
    import threading
    s = setup()['server']
    first = {}
    t = threading.Thread(target=lambda: first.update(r=invoke('hostile/slow', {'seconds': 4})))
    t.start()
    time.sleep(1.5)  # the first takes the only slot
    deadline = time.time() + 20
    while time.time() < deadline:  # until the first holds the only slot
        st, b, r, _ = invoke('hostile/slow', {'seconds': 0})
        if st == 429:
            break
        time.sleep(0.2)
    assert st == 429 and b['error']['code'] == 'skill_busy', (st, b)
    assert r.getheader('Retry-After') == '1', r.getheaders()
    t.join()
    assert first['r'][0] == 200, first


@test
def a_broken_manifest_is_refused_with_file_and_line_and_a_reload_picks_up_changes():
    st = setup()
    s = st['server']
    _, b, _, _ = s.request('GET', '/v1/skills')
    errs = [e['error'] for e in b['errors']]
    assert any(e.endswith("broken.yaml:6: input_schema.properties.a.type: unknown type 'strng'")
               for e in errs), errs
    assert 'demo/broken' not in [x['name'] for x in b['data']]
    with open(os.path.join(st['skills'], 'echo', 'echo-3.0.0.yaml'), 'w') as f:
        f.write('name: demo/echo\nversion: 3.0.0\ninput_schema: {type: object}\n'
                'executor: {type: exec, command: [python3, echo.py, "3.0.0"]}\n')
    os.chmod(os.path.join(st['skills'], 'echo', 'echo-3.0.0.yaml'), 0o644)
    try:
        st_, b, _, _ = s.post('/admin/config/reload', {}, timeout=120)
        assert st_ == 200, b
        s_, b, _, _ = invoke('demo/echo', {})
        assert s_ == 200 and b['version'] == '3.0.0', b
    finally:
        os.unlink(os.path.join(st['skills'], 'echo', 'echo-3.0.0.yaml'))
        s.post('/admin/config/reload', {}, timeout=120)
    s_, b, _, _ = invoke('demo/echo', {})
    assert b['version'] == '2.0.0', b


@test
def the_mcp_sdk_client_lists_and_calls_lmx_skills_over_mcp():
    s = setup()['server']
    p = subprocess.run(['node', os.path.join(MCP_DIR, 'client.mjs'), f'http://127.0.0.1:{s.port}/mcp'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out['server']['name'] == 'lmx', out
    names = {t['name']: t for t in out['tools']}
    assert 'demo__echo' in names and names['demo__echo']['title'] == 'demo/echo' and names['demo__echo']['hasSchema']
    assert 'demo__search' in names and 'mcp__everything__echo' in names, sorted(names)
    echo = out['echo']
    assert echo['isError'] is False, echo
    assert echo['structuredContent'] == {'version': '2.0.0', 'args': {'text': 'from the sdk'}}, echo
    assert json.loads(echo['content'][0]['text']) == echo['structuredContent']
    bad = out['bad']
    assert bad['isError'] is True, bad
    detail = json.loads(bad['content'][0]['text'])
    assert detail['code'] == 'invalid_arguments', detail
    assert {v['pointer'] for v in detail['violations']} == {'/query', '/options/mode'}, detail
    assert 'Unknown tool' in out['unknown'], out
    # what a browser page may not do
    st, b, _, _ = s.post('/mcp', {'jsonrpc': '2.0', 'id': 1, 'method': 'ping'}, headers={'Origin': 'http://evil.example'})
    assert st == 403, (st, b)
    assert s.request('GET', '/mcp')[0] == 405


def everything_stdio_pids():
    out = subprocess.run(['pgrep', '-f', f'{EVERYTHING} stdio'], stdout=subprocess.PIPE, text=True).stdout
    return [int(x) for x in out.split()]


@test
def a_reference_mcp_servers_tools_are_invoked_through_the_bridge_also_after_a_restart():
    st = setup()
    s = st['server']
    _, b, _, _ = s.request('GET', '/v1/skills')
    names = [x['name'] for x in b['data']]
    for srv in ('everything', 'evhttp'):
        assert f'mcp/{srv}/echo' in names and f'mcp/{srv}/get-sum' in names, names
    for srv in ('everything', 'evhttp'):
        s_, b, _, _ = invoke(f'mcp/{srv}/get-sum', {'a': 2, 'b': 40})
        assert s_ == 200 and b['result']['content'][0]['text'] == 'The sum of 2 and 40 is 42.', b
        s_, b, _, _ = invoke(f'mcp/{srv}/echo', {'message': 7})  # checked by the tool's own schema
        assert error_of(s_, b, 400, 'invalid_arguments')['violations'][0]['pointer'] == '/message'
    # stdio: the server process dies; the next call starts it again
    pids = everything_stdio_pids()
    assert pids, 'the stdio server is not running'
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    s_, b, _, _ = invoke('mcp/everything/echo', {'message': 'after restart'})
    assert s_ == 200 and b['result']['content'][0]['text'] == 'Echo: after restart', b
    assert everything_stdio_pids() and everything_stdio_pids() != pids
    # Streamable HTTP: the server restarts (its sessions are gone); the bridge starts a new one
    st['ev_http'].terminate()
    st['ev_http'].wait(timeout=30)
    s_, b, _, _ = invoke('mcp/evhttp/echo', {'message': 'down'})
    error_of(s_, b, 503, 'skill_unavailable')
    st['ev_http'] = start_everything_http(st['ev_http_port'])
    s_, b, _, _ = invoke('mcp/evhttp/echo', {'message': 'back'})
    assert s_ == 200 and b['result']['content'][0]['text'] == 'Echo: back', b


@test
def a_forced_skill_call_on_the_tool_model_runs_the_skill_and_returns_the_final_message():
    s = setup()['server']
    body = {'model': 'coder', 'messages': [{'role': 'user', 'content': 'Echo something.'}],
            'tools': [{'type': 'skill', 'name': 'demo/echo@1'}],
            'tool_choice': {'type': 'skill', 'name': 'demo/echo@1'},
            'logit_bias': EOS_BIAS, 'temperature': 0, 'max_tokens': 4}
    st, b, _, _ = s.post('/v1/chat/completions', body, timeout=300)
    assert st == 200, (st, b)
    calls = b['skill_calls']
    assert len(calls) == 1, b
    c = calls[0]
    assert c['name'] == 'demo/echo' and c['version'] == '1.2.5' and c['step'] == 1, c
    assert c['arguments'] == {} and c['result'] == {'version': '1.2.5', 'args': {}}, c
    assert c['id'].startswith('call_'), c
    fin = b['choices'][0]
    assert fin['finish_reason'] == 'stop' and not fin['message'].get('tool_calls'), fin
    assert b['usage']['prompt_tokens'] > 0, b
    # the same forced by the function name the model sees
    body['tool_choice'] = {'type': 'function', 'function': {'name': 'demo__echo'}}
    st, b, _, _ = s.post('/v1/chat/completions', body, timeout=300)
    assert st == 200 and len(b['skill_calls']) == 1, b
    # the Responses API runs the same loop
    rbody = {'model': 'coder', 'input': 'Echo something.', 'tools': [{'type': 'skill', 'name': 'demo/echo@1.0'}],
             'tool_choice': {'type': 'skill', 'name': 'demo/echo@1.0'}, 'logit_bias': EOS_BIAS,
             'temperature': 0, 'max_output_tokens': 4, 'store': False}
    st, b, _, _ = s.post('/v1/responses', rbody, timeout=300)
    assert st == 200, (st, b)
    assert b['object'] == 'response' and b['status'] == 'completed', b
    assert [(c['name'], c['version'], c['result']) for c in b['skill_calls']] == \
        [('demo/echo', '1.0.0', {'version': '1.0.0', 'args': {}})], b
    assert not [o for o in b['output'] if o['type'] == 'function_call'], b['output']
    assert b['usage']['input_tokens'] > 0, b
    # refusals: an unknown skill, a stream
    st, b, _, _ = s.post('/v1/chat/completions', {**body, 'tools': [{'type': 'skill', 'name': 'demo/none'}]})
    error_of(st, b, 404, 'skill_not_found')
    st, b, _, _ = s.post('/v1/chat/completions', {**body, 'stream': True})
    assert st == 400 and b['error']['param'] == 'stream', b


@test
def metrics_count_invocations_by_outcome_and_sandbox_kills():
    s = setup()['server']
    invoke('demo/echo', {})
    st, _, _, text = s.request('GET', '/metrics')
    assert st == 200
    assert 'lmx_skill_invocations_total{skill="demo/echo",outcome="ok"}' in text, text[-3000:]
    assert 'lmx_skill_duration_seconds_bucket{skill="demo/echo",le="+Inf"}' in text
    if any(l.startswith('lmx_skill_invocations_total{skill="hostile/spin"') for l in text.splitlines()):
        assert 'lmx_skill_sandbox_kills_total{skill="hostile/spin",reason="timeout"}' in text
    promtool = shutil.which('promtool')
    if promtool:
        p = subprocess.run([promtool, 'check', 'metrics'], input=text, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert p.returncode == 0, p.stdout[-2000:]


@test
def the_cli_lists_shows_and_invokes_skills():
    s = setup()['server']
    port = str(s.port)
    p = lmx('skills', 'ls', '--port', port)
    assert 'demo/echo' in p.stdout and '2.0.0' in p.stdout and 'exec' in p.stdout, p.stdout
    p = lmx('skills', 'show', 'demo/echo@1', '--port', port)
    assert json.loads(p.stdout)['version'] == '1.2.5', p.stdout
    p = lmx('skills', 'invoke', 'demo/echo@1.0', '{"text": "cli"}', '--port', port)
    assert json.loads(p.stdout) == {'version': '1.0.0', 'args': {'text': 'cli'}}, p.stdout
    p = lmx('skills', 'invoke', 'demo/search', '{"query": "!"}', '--port', port, check=False)
    assert p.returncode == 1 and 'invalid_arguments' in p.stderr and '/options' in p.stderr, p.stderr


def cleanup():
    if _st:
        _st['server'].stop()
        if _st.get('ev_http'):
            _st['ev_http'].terminate()
        shutil.rmtree(_st['dir'], ignore_errors=True)


if __name__ == '__main__':
    import atexit
    atexit.register(cleanup)
    main()
