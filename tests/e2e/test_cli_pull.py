#!/usr/bin/env python3
"""`lmx pull` in a real terminal (tmux, at 60 and 120 columns) against the fake
hub (tests/e2e/fakehub.py, throttled so the progress line is seen): the line
fits the terminal and redraws in place, names the file, and Ctrl-C says the
download goes on in the daemon; rerunning reattaches, `lmx ls` shows the
download in progress, `lmx pull --cancel` stops one; hf.co/ and huggingface.co
forms; the pulled model runs by its store name."""
import json, os, shutil, subprocess, tempfile, time

from fakehub import standard_hub
from harness import LMX, lmx, main, test
from server_util import Server
from term import Terminal

HUB = standard_hub()
STORIES_REPO = 'lmx-test/stories260K-GGUF'
SYNTH_REPO = 'lmx-test/synth-llama-GGUF'
_tmp = tempfile.mkdtemp(prefix='lmx-pull-')
STORE = os.path.join(_tmp, 'store')
_daemon = None


def daemon():
    global _daemon
    if _daemon is None:
        env = dict(os.environ, HF_ENDPOINT=HUB.url)
        env.pop('HF_TOKEN', None)
        _daemon = Server('--models-dir', STORE, '-t', 1, model=None, env=env)
    return _daemon


def env():
    e = dict(os.environ, LMX_HOST=f'127.0.0.1:{daemon().port}', LMX_MODELS_DIR=STORE)
    e.pop('LMX_ADMIN_KEY', None)
    return e


def visible_progress_lines(t, name):
    return [l for l in t.screen(history=False).splitlines() if name in l or 'downloading' in l]


def watch_and_interrupt(cols, ref, name):
    """Starts lmx pull REF at cols columns, checks the line while it moves, Ctrl-C."""
    t = Terminal([LMX, 'pull', ref], cols=cols, rows=20, env=env())
    try:
        t.wait_for(lambda s: 'downloading' in s and '%' in s, timeout=30, what='the progress line')
        time.sleep(1.5)  # several redraws (4 a second)
        # redrawn in place: one line, never wider than the terminal, naming the file
        t.wait_for(lambda s: len(visible_progress_lines(t, name)) == 1, timeout=5,
                   what=f'one progress line at {cols} columns')
        lines = visible_progress_lines(t, name)
        assert len(lines[0]) < cols and name[:8] in lines[0] or name[-8:] in lines[0], (cols, lines)
        assert 'eta' in lines[0] or cols < 80, lines
        t.send('C-c')
        s = t.wait_for(lambda s: t.dead(), timeout=20, what='exit on Ctrl-C')
        assert 'the download goes on' in s and 'lmx pull --cancel' in s and 'rerun' in s, s
        assert t.exit_status() == 130, s
        for line in s.splitlines():
            assert len(line) <= cols, (cols, line)
    finally:
        t.close()


@test
def pull_at_60_columns_ctrl_c_ls_and_reattach_at_120():
    name = 'stories260K-F32.gguf'
    HUB.rate = 60_000  # ~19 s for the 1.1 MiB file: Ctrl-C and lmx ls land mid-download on a busy machine
    try:
        watch_and_interrupt(60, f'hf.co/{STORIES_REPO}:F32', name)
        # the daemon goes on: lmx ls shows the download in progress
        p = lmx('ls', env=env())
        rows = [l.split() for l in p.stdout.splitlines()]
        assert any(r[:3] == [f'{STORIES_REPO}:F32', name, 'downloading'] for r in rows), p.stdout
        # rerun: the same download, watched again at 120 columns, to the end
        t = Terminal([LMX, 'pull', f'{STORIES_REPO}:F32'], cols=120, rows=20, env=env())
        try:
            t.wait_for(lambda s: 'downloading' in s, timeout=30, what='reattached progress')
            lines = visible_progress_lines(t, name)
            assert len(lines) == 1 and len(lines[0]) < 120 and name in lines[0], t.screen()
            assert '[' in lines[0] and '#' in lines[0] and 'eta' in lines[0], lines
            s = t.wait_for(lambda s: t.dead(), timeout=90, what='the download to finish')
            assert f'pulled {name} (1.1 MiB) as {STORIES_REPO}:F32' in s and t.exit_status() == 0, s
        finally:
            t.close()
    finally:
        HUB.rate = 0
    # one download did it all (the rerun reattached rather than starting another)
    st, j, _, _ = daemon().request('GET', '/admin/models/download')
    assert st == 200 and len([d for d in j['data'] if d['repo'] == STORIES_REPO]) == 1, j
    # the store name runs wherever a model file does
    p = lmx('run', f'{STORIES_REPO}:F32', 'Once upon a time', '-n', 4, env=env())
    assert p.stdout.endswith('\n') and p.stdout.strip(), p.stdout
    p = lmx('show', f'hf.co/{STORIES_REPO}:F32', env=env())
    assert 'architecture  llama' in p.stdout, p.stdout


@test
def pull_cancel_stops_a_download_named_by_its_huggingface_url():
    url = f'https://huggingface.co/{SYNTH_REPO}/blob/main/synth-llama-Q8_0.gguf'
    HUB.rate = 40_000
    try:
        watch_and_interrupt(120, url, 'synth-llama-Q8_0.gguf')
        p = lmx('pull', '--cancel', url, env=env())
        assert p.stdout.startswith(f'cancelled the download of {url}'), p.stdout
    finally:
        HUB.rate = 0
    st, j, _, _ = daemon().request('GET', '/admin/models/download')
    d = [d for d in j['data'] if d['repo'] == SYNTH_REPO]
    assert d and d[0]['state'] == 'cancelled' and d[0]['file'] == 'synth-llama-Q8_0.gguf', d
    p = lmx('pull', '--cancel', url, env=env(), check=False)
    assert p.returncode == 1 and 'no download' in p.stderr, p.stderr
    # a URL of a file, and nonsense
    p = lmx('pull', f'https://huggingface.co/{STORIES_REPO}/resolve/main/stories260K-F32.gguf', '-q',
            env=env())
    assert p.stdout.startswith('pulled stories260K-F32.gguf'), p.stdout
    p = lmx('pull', 'https://huggingface.co/justone', env=env(), check=False)
    assert p.returncode == 2 and 'not ORG/REPO' in p.stderr, p.stderr


@test
def daemon_stops_cleanly():
    global _daemon
    assert daemon().stop(timeout=30) == 0
    _daemon = None


if __name__ == '__main__':
    try:
        main()
    finally:
        if _daemon:
            _daemon.stop()
        HUB.close()
        shutil.rmtree(_tmp, ignore_errors=True)
