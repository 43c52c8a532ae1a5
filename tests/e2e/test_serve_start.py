#!/usr/bin/env python3
"""`lmx serve` as a person starts it: a taken port fails at once, before any
model is loaded; one start-up line says the version, the address, the models
directory and how many models it holds (and how to add one when it holds
none); listening beyond loopback without an API key is warned about."""
import json, os, shutil, socket, subprocess, tempfile, time

from harness import LMX, STORIES, main, test
from server_util import Server

_tmp = tempfile.mkdtemp(prefix='lmx-start-')


def log_lines(text):
    out = []
    for l in text.splitlines():
        try:
            out.append(json.loads(l))
        except ValueError:
            pass
    return out


@test
def a_taken_port_fails_at_once_before_loading_the_model():
    held = socket.socket()
    held.bind(('127.0.0.1', 0))
    held.listen(1)
    port = held.getsockname()[1]
    try:
        t0 = time.time()
        p = subprocess.run([LMX, 'serve', '--port', str(port), '-m', STORIES, '--models-dir',
                            os.path.join(_tmp, 'taken')], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        assert p.returncode != 0, p.stderr
        assert f'port {port} on 127.0.0.1 is already in use' in p.stderr and '--port' in p.stderr, p.stderr
        assert 'model loaded' not in p.stderr, p.stderr  # nothing was loaded first
        assert time.time() - t0 < 20
    finally:
        held.close()


@test
def one_start_up_line_names_version_address_and_store():
    empty = os.path.join(_tmp, 'empty')
    with Server('--models-dir', empty, '-t', 1, model=None) as s:
        time.sleep(0.3)
        lines = [l for l in log_lines(s.logs()) if l.get('version')]
        assert len(lines) == 1, s.logs()
        l = lines[0]
        v = subprocess.run([LMX, '--version'], stdout=subprocess.PIPE, text=True).stdout.split()[1]
        assert l['version'] == v and l['port'] == s.port and l['models'] == 0, l
        assert l['models_dir'] == empty and empty in l['msg'], l
        assert 'lmx pull ORG/REPO:QUANT' in l['msg'] and f'http://127.0.0.1:{s.port}/v1' in l['msg'], l
        assert not [x for x in log_lines(s.logs()) if x['level'] == 'warn'], s.logs()
        s.stop()
    one = os.path.join(_tmp, 'one')
    os.makedirs(one)
    shutil.copy(STORIES, os.path.join(one, 'stories260K.gguf'))
    with Server('--models-dir', one, '-t', 1, model=None) as s:
        time.sleep(0.3)
        l = [l for l in log_lines(s.logs()) if l.get('version')][0]
        assert l['models'] == 1 and 'holds 1 model' in l['msg'] and 'lmx pull' not in l['msg'], l
        s.stop()


@test
def listening_beyond_loopback_without_an_api_key_is_warned_about():
    d = os.path.join(_tmp, 'w')
    with Server('--models-dir', d, '-t', 1, '--host', '0.0.0.0', model=None) as s:
        time.sleep(0.3)
        warn = [l for l in log_lines(s.logs()) if l['level'] == 'warn']
        assert warn and 'without an API key' in warn[0]['msg'] and '--api-key' in warn[0]['msg'], s.logs()
        s.stop()
    with Server('--models-dir', d, '-t', 1, '--host', '0.0.0.0', '--api-key', 'k', model=None) as s:
        time.sleep(0.3)
        assert not [l for l in log_lines(s.logs()) if l['level'] == 'warn'], s.logs()
        s.stop()


@test
def log_format_text_on_a_terminal_and_json_otherwise():
    d = os.path.join(_tmp, 'fmt')
    with Server('--models-dir', d, '-t', 1, '--log-format', 'text', model=None) as s:
        time.sleep(0.3)
        line = [l for l in s.logs().splitlines() if 'serving' in l][0]
        assert not line.startswith('{') and ' info  lmx ' in line and f'port={s.port}' in line, s.logs()
        s.stop()
    with Server('--models-dir', d, '-t', 1, model=None) as s:  # stderr is a file: JSON
        time.sleep(0.3)
        assert [l for l in log_lines(s.logs()) if l.get('version')], s.logs()
        s.stop()
    p = subprocess.run([LMX, 'serve', '--log-format', 'yaml'], stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 2 and 'expected text, json or auto' in p.stderr, p.stderr
    # on a terminal, text by default
    from term import Terminal
    t = Terminal([LMX, 'serve', '--port', '0', '--models-dir', d, '-t', 1], cols=200, env=os.environ)
    try:
        s = t.wait_for(lambda s: 'serving http' in s, timeout=30, what='the start-up line')
        line = [l for l in s.splitlines() if 'serving http' in l][0]
        assert not line.startswith('{') and ' info  lmx ' in line, s
        t.send('C-c')
        t.wait_for(lambda s: t.dead(), timeout=30, what='exit on Ctrl-C')
    finally:
        t.close()


if __name__ == '__main__':
    try:
        main()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
