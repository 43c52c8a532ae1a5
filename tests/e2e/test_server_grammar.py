#!/usr/bin/env python3
"""Grammar-constrained decoding end to end: `lmx serve` on stories260K (a model
that knows nothing of JSON), driven by the official openai npm SDK
(node/grammar.mjs), which validates every output with ajv. Each SDK check is
one test here; a few request-contract checks are made directly.

Covered: response_format json_schema (nested objects/arrays/enums/numbers,
anyOf with prefixItems, recursive $ref) at temperature 1.0 over several
seeds, n > 1, /v1/completions, streaming; json_object; unsupported keywords
→ 400 naming them; tool_choice "required" and a named function (arguments
valid under the tool's parameters, finish_reason tool_calls), and streamed
tool-call deltas reassembling to the same call."""
import os, shutil, subprocess

from harness import main, test
from server_util import MODEL, Server

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, 'node')


def ensure_node_deps():
    # ajv joined openai later: a node_modules installed before it needs a refresh
    if all(os.path.isdir(os.path.join(NODE_DIR, 'node_modules', m)) for m in ('openai', 'ajv')):
        return
    npm = shutil.which('npm')
    assert npm, 'npm is not installed (scripts/install-deps.sh installs it)'
    subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=NODE_DIR, check=True,
                   stdout=subprocess.DEVNULL, timeout=300)


_server = None


def server():
    global _server
    if _server is None:
        _server = Server('--parallel', 2, '-c', 1024, '-t', 1)
    return _server


_results = None


def results():
    global _results
    if _results is None:
        ensure_node_deps()
        s = server()
        env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL)
        p = subprocess.run(['node', os.path.join(NODE_DIR, 'grammar.mjs')], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=600)
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
    return _results


def sdk_check(name):
    def fn():
        r = results()
        assert name in r, f'{name} did not run: {sorted(r)}'
        assert r[name] is None, r[name]
    fn.__name__ = f'grammar_{name}'
    test(fn)


for n in ('json_schema_person_validates', 'json_schema_choice_validates', 'json_schema_tree_validates',
          'json_schema_n2_and_completions', 'json_schema_streamed_matches', 'json_object_parses',
          'unsupported_keyword_is_400', 'tool_choice_required_validates', 'tool_choice_named_picks_that_tool',
          'tool_call_stream_reassembles'):
    sdk_check(n)


def chat(**body):
    body.setdefault('model', MODEL)
    body.setdefault('messages', [{'role': 'user', 'content': 'hi'}])
    body.setdefault('max_tokens', 8)
    return server().post('/v1/chat/completions', body)


@test
def schema_errors_name_the_keyword_and_its_path():
    rf = lambda schema: {'type': 'json_schema', 'json_schema': {'name': 'x', 'schema': schema}}
    cases = [
        (rf({'type': 'object', 'properties': {'when': {'type': 'string', 'format': 'date'}}}),
         'response_format.json_schema.schema',
         "response_format.json_schema.schema.properties.when: unsupported JSON Schema keyword 'format'"),
        (rf({'$ref': '#/$defs/nope'}), 'response_format.json_schema.schema',
         "response_format.json_schema.schema: '$ref' '#/$defs/nope' does not resolve"),
        ({'type': 'json_schema'}, 'response_format.json_schema', None),
        ({'type': 'yaml'}, 'response_format.type', None),
    ]
    for fmt, param, msg in cases:
        st, b, _, _ = chat(response_format=fmt)
        assert st == 400 and b['error']['param'] == param, (fmt, st, b)
        assert msg is None or b['error']['message'] == msg, b
    tools = [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'not': {}}}}]
    st, b, _, _ = chat(tools=tools, tool_choice='required')
    assert st == 400 and b['error']['param'] == 'tools[0].function.parameters', b
    assert "unsupported JSON Schema keyword 'not'" in b['error']['message'], b
    # auto does not constrain, so the schema is not compiled
    st, b, _, _ = chat(tools=tools)
    assert st == 200, b


@test
def logprobs_stay_the_raw_distribution():
    # a constrained token's reported log-probability is the model's own, not renormalized
    schema = {'type': 'object', 'properties': {'a': {'type': 'boolean'}}, 'required': ['a']}
    body = dict(max_tokens=32, temperature=0, logprobs=True, top_logprobs=3,
                response_format={'type': 'json_schema', 'json_schema': {'name': 'x', 'schema': schema}})
    st, b, _, _ = chat(**body)
    assert st == 200, b
    content = b['choices'][0]['message']['content']
    assert content.replace(' ', '') in ('{"a":true}', '{"a":false}'), content
    lps = b['choices'][0]['logprobs']['content']
    assert ''.join(e['token'] for e in lps) == content
    # the first token is forced ('{'), which the raw model does not rank first
    assert lps[0]['token'] == '{' and lps[0]['logprob'] < 0, lps[0]
    st, b2, _, _ = chat(max_tokens=1, temperature=0, logprobs=True, top_logprobs=3)
    assert b2['choices'][0]['logprobs']['content'][0]['top_logprobs'] == lps[0]['top_logprobs'], (b2, lps[0])


if __name__ == '__main__':
    try:
        main()
    finally:
        if _server:
            _server.stop()
