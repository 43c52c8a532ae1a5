#!/usr/bin/env python3
"""OpenClaw's bundled LM Studio provider completes an agent turn against lmx serve.

OpenClaw (npm `openclaw`, node 24, installed as for test_openclaw.py) is
configured as its LM Studio setup writes it: provider `lmstudio`, baseUrl the
server's inference URL (http://127.0.0.1:PORT/v1, the form OpenClaw persists:
the provider strips /v1 for its /api/v1 calls; `agent exec --config` uses the
baseUrl as written for chat, so a bare root would send /chat/completions),
the local placeholder key `lmstudio-local`. Before
each turn the provider asks LM Studio's native REST API which models exist
and which instances are loaded (GET /api/v1/models), loads the model with the
context it wants (POST /api/v1/models/load {model, context_length}) unless a
loaded instance is big enough, and then sends OpenAI chat completions to
/v1 naming the instance id it got back.

The daemon starts with no -m: ../shared/models/synth/qwen2-vocab-q8_0.gguf is
in its --models-dir (a symlink), so the provider's load call is what loads it
(32k context). The model has random weights, so the turn's text is noise;
what is checked is that OpenClaw accepts every answer and ends the turn (exit
0, its JSON result) and that the server log shows the /api/v1 calls in that
order, each answered 200. maxTokens is 96 so the turn takes seconds."""
import json, os, shutil, sys, tempfile

import harness
from harness import SHARED, main, test
from server_util import Server

_n = len(harness._tests)
from test_openclaw import agent_exec, agent_result, logged_requests, openclaw  # noqa: E402 (its helpers, not its tests)
del harness._tests[_n:]

MODEL_FILE = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
MODEL = 'qwen2-vocab-q8_0'


def config(base):
    return {
        'update': {'checkOnStart': False},
        'telemetry': {'enabled': False},
        'models': {'mode': 'replace', 'providers': {'lmstudio': {
            'baseUrl': base,
            'apiKey': 'lmstudio-local',
            'api': 'openai-completions',
            'timeoutSeconds': 120,
            'models': [{'id': MODEL, 'name': MODEL, 'reasoning': False, 'input': ['text'],
                        'cost': {'input': 0, 'output': 0, 'cacheRead': 0, 'cacheWrite': 0},
                        'contextWindow': 32768, 'maxTokens': 96}],
        }}},
        'agents': {'defaults': {'model': {'primary': f'lmstudio/{MODEL}'}}},
        'tools': {'web': {'search': {'enabled': False}, 'fetch': {'enabled': False}}},
    }


@test
def openclaw_lmstudio_provider_agent_turn():
    oc = openclaw()
    if not oc:
        return
    env, oc_bin = oc
    with tempfile.TemporaryDirectory(prefix='lmx-openclaw-lms-') as tmp:
        store = os.path.join(tmp, 'models')
        os.makedirs(store)
        os.symlink(os.path.abspath(MODEL_FILE), os.path.join(store, f'{MODEL}.gguf'))
        with Server('--models-dir', store, '--parallel', 1, model=None, env=dict(os.environ, HOME=tmp)) as s:
            cfg = os.path.join(tmp, 'openclaw.json')
            json.dump(config(f'http://127.0.0.1:{s.port}/v1'), open(cfg, 'w'))
            p, dt = agent_exec(env, oc_bin, tmp, cfg, f'lmstudio/{MODEL}')
            st, loaded, _, _ = s.request('GET', '/api/v1/models')
            rc = s.stop()
            log = s.logs()
    ctx = f'\n--- openclaw (rc {p.returncode}, {dt:.1f}s) stderr:\n{p.stderr[-3000:]}\n' \
          f'--- stdout:\n{p.stdout[-2000:]}\n--- server log:\n{log[-4000:]}'
    out = agent_result(p, ctx)
    assert out.get('assistantTurns', 0) >= 1, ctx
    assert out.get('model') == MODEL, ctx
    u = out.get('usage') or {}
    assert u.get('input', 0) > 1000 and 0 < u.get('output', 0) <= 96 * max(1, out['assistantTurns']), ctx
    reqs = logged_requests(log)
    paths = [(q.get('method'), q.get('path'), q.get('status')) for q in reqs]
    print(f'openclaw lmstudio: {dt:.1f}s, requests: {paths}', file=sys.stderr)
    # discovery, the load it asked for, then generation on /v1, every one 200
    first = {path: i for i, (_, path, _) in reversed(list(enumerate(paths)))}
    for path in ('/api/v1/models', '/api/v1/models/load', '/v1/chat/completions'):
        assert path in first, (path, ctx)
    assert first['/api/v1/models'] < first['/api/v1/models/load'] < first['/v1/chat/completions'], paths
    assert all(status == 200 for _, _, status in paths), paths
    # chat named the instance id /api/v1/models/load answered (the model's key)
    gen = [q for q in reqs if q.get('path') == '/v1/chat/completions']
    assert gen and all(q.get('model') == MODEL for q in gen), gen
    # the model it loaded is the instance that served the turn, with the context it asked for
    inst = [x for x in loaded['models'] if x['key'] == MODEL][0]['loaded_instances']
    assert inst and inst[0]['config']['context_length'] == 32768, inst
    assert rc == 0, ctx


if __name__ == '__main__':
    main()
