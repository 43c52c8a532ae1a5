#!/usr/bin/env python3
"""lmx serve driven by the official openai npm SDK (node/sdk.mjs): each SDK
check is reported as one test here. The SDK is installed into tests/e2e/node/
from the committed package-lock.json when missing."""
import os, shutil, subprocess, sys

from harness import main, test, _tests
from server_util import MODEL, Server

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, 'node')


def ensure_sdk():
    if os.path.isdir(os.path.join(NODE_DIR, 'node_modules', 'openai')):
        return
    npm = shutil.which('npm')
    assert npm, 'npm is not installed (scripts/install-deps.sh installs it)'
    cmd = [npm, 'ci', '--no-audit', '--no-fund'] if os.path.exists(os.path.join(NODE_DIR, 'package-lock.json')) \
        else [npm, 'install', '--no-audit', '--no-fund']
    subprocess.run(cmd, cwd=NODE_DIR, check=True, stdout=subprocess.DEVNULL, timeout=300)


_results = None


def results():
    global _results
    if _results is None:
        ensure_sdk()
        with Server('--parallel', 4, '-c', 2048, '-t', 1) as s:
            env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL)
            p = subprocess.run(['node', os.path.join(NODE_DIR, 'sdk.mjs')], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            s.stop()
            log = s.logs()
        _results = {}
        name = None
        for line in p.stdout.splitlines():
            if line.startswith('ok '):
                _results[line[3:].strip()] = None
            elif line.startswith('FAIL '):
                name, _, why = line[5:].partition(':')
                _results[name] = why
            elif line.startswith('    ') and name:
                _results[name] += '\n' + line
        if not _results:
            raise AssertionError(p.stdout[-3000:])
        if _results.get('abort_then_reuse', 1) is None and '"status":499' not in log:
            _results['abort_then_reuse'] = 'the server did not log the aborted stream as 499'
    return _results


def sdk_check(name):
    def fn():
        r = results()
        assert name in r, f'{name} did not run: {sorted(r)}'
        assert r[name] is None, r[name]
    fn.__name__ = f'sdk_{name}'
    test(fn)


for n in ('models_list', 'chat_create', 'chat_stream_include_usage', 'chat_stream_helper', 'n3_seeded',
          'logprobs', 'stop', 'completions_create', 'errors_map_to_sdk_classes', 'abort_then_reuse'):
    sdk_check(n)

if __name__ == '__main__':
    main()
