#!/usr/bin/env python3
"""OpenClaw itself completes an agent turn against lmx serve.

OpenClaw (npm `openclaw`, node 24 from tests/e2e/clients/node24, installed with
the other client libraries) runs `openclaw agent exec` through the isolated
config and commands of ../shared/clients/oc: a 20–50 KB request with a dozen
tools, against ../shared/models/synth/qwen2-vocab-q8_0.gguf (Qwen's vocabulary
and chat template with tools, 32k context), once over Chat Completions
(`api: openai-completions`) and once over the Responses API
(`openai-responses`). The model has random weights, so the turn's text is
noise; what is checked is that OpenClaw accepts every answer and ends the turn
(exit 0, its JSON result with one assistant turn and our usage figures).

The config's maxTokens is lowered to 96 so a turn takes seconds, not minutes."""
import json, os, re, shutil, subprocess, sys, tempfile, time

import harness
from harness import SHARED, main, test
from server_util import Server

_n = len(harness._tests)
from test_client_drives import CLIENTS, Skip, node_env  # noqa: E402 (its helpers, not its tests)
del harness._tests[_n:]

MODEL_FILE = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
MODEL = 'qwen2-vocab-q8_0'
OC = os.path.join(SHARED, 'clients', 'oc')


def openclaw():
    """(node 24 env, the openclaw binary), or None (SKIP printed) without node 24."""
    try:
        env = node_env()
    except Skip as e:
        print(f'SKIP openclaw: {e}', file=sys.stderr)
        return None
    oc_bin = os.path.join(CLIENTS, 'node_modules', '.bin', 'openclaw')
    assert os.path.exists(oc_bin), 'openclaw is not installed in tests/e2e/clients'
    return env, oc_bin


def agent_exec(env, oc_bin, tmp, cfg, model):
    """One `openclaw agent exec` turn with config cfg and its own home and
    workspace under tmp; (the finished process, seconds it took)."""
    home, ws = os.path.join(tmp, 'home'), os.path.join(tmp, 'srv', 'ws')
    os.makedirs(home)
    os.makedirs(ws)
    oenv = dict(env, HOME=home, OPENCLAW_HOME=home, OPENCLAW_CONFIG_PATH=cfg, OPENCLAW_NO_AUTO_UPDATE='1',
                DO_NOT_TRACK='1', OPENCLAW_DISABLE_BONJOUR='1', OPENCLAW_OFFLINE='1',
                OPENCLAW_SKIP_CHANNELS='1', NO_COLOR='1')
    t0 = time.time()
    p = subprocess.run([oc_bin, 'agent', 'exec', '--config', cfg, '--model', model, '--cwd', ws,
                        '--json', 'List the files in the workspace, then say done.'],
                       cwd=ws, env=oenv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=400)
    return p, time.time() - t0


def agent_result(p, ctx):
    """The JSON result of a turn that exited 0."""
    assert p.returncode == 0, ctx
    m = re.search(r'^\{.*\}\s*$', p.stdout, re.S | re.M)
    assert m, ctx
    return json.loads(m.group(0))


def logged_requests(log):
    """The server log's request records."""
    return [json.loads(l) for l in log.splitlines() if l.startswith('{') and '"request"' in l]


def run_turn(api):
    oc = openclaw()
    if not oc:
        return None
    env, oc_bin = oc
    with tempfile.TemporaryDirectory(prefix='lmx-openclaw-') as tmp, \
            Server('-c', 32768, '--parallel', 1, model=MODEL_FILE) as s:
        base = f'http://127.0.0.1:{s.port}/v1'
        cfg = os.path.join(tmp, 'openclaw.json')
        subprocess.run([os.path.join(OC, 'make-config.sh'), cfg, api, base, MODEL, 'sk-local-test'],
                       check=True, env=env)
        c = json.load(open(cfg))
        c['models']['providers']['local']['models'][0]['maxTokens'] = 96
        json.dump(c, open(cfg, 'w'))
        p, dt = agent_exec(env, oc_bin, tmp, cfg, f'local/{MODEL}')
        s.stop()
        log = s.logs()
    ctx = f'\n--- openclaw ({api}, rc {p.returncode}, {dt:.1f}s) stderr:\n{p.stderr[-3000:]}\n' \
          f'--- stdout:\n{p.stdout[-2000:]}\n--- server log:\n{log[-3000:]}'
    out = agent_result(p, ctx)
    reqs = logged_requests(log)
    print(f'openclaw {api}: {dt:.1f}s, {len(reqs)} request(s) to lmx', file=sys.stderr)
    return out, reqs, ctx


def check(api, path):
    r = run_turn(api)
    if r is None:
        return
    out, reqs, ctx = r
    assert out.get('assistantTurns', 0) >= 1, ctx
    assert out.get('model') == MODEL, ctx
    u = out.get('usage') or {}
    assert u.get('input', 0) > 1000 and 0 < u.get('output', 0) <= 96 * max(1, out['assistantTurns']), ctx
    gen = [q for q in reqs if q.get('path') == path]
    assert gen and all(q['status'] == 200 for q in gen), ctx


@test
def openclaw_agent_turn_chat_completions():
    check('openai-completions', '/v1/chat/completions')


def responses_served():
    """/v1/responses comes with the Responses API branch; until it is merged
    this daemon answers 404 unknown_url and the turn is skipped, not failed."""
    with Server('-t', 1) as s:
        st, j, _, _ = s.post('/v1/responses', {'input': 'hi', 'max_output_tokens': 1})
        return not (st == 404 and (j or {}).get('error', {}).get('code') == 'unknown_url')


@test
def openclaw_agent_turn_responses():
    if not responses_served():
        print('SKIP openclaw_agent_turn_responses: this build has no /v1/responses', file=sys.stderr)
        return
    check('openai-responses', '/v1/responses')


if __name__ == '__main__':
    main()
