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
import os, time

from harness import main, test
from node_checks import register, run_driver
from server_util import MODEL, Server


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
        s = server()
        env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL)
        _results, _ = run_driver('grammar.mjs', env, timeout=600)
    return _results


register(results, ('json_schema_person_validates', 'json_schema_choice_validates', 'json_schema_tree_validates',
          'json_schema_n2_and_completions', 'json_schema_streamed_matches', 'json_object_parses',
          'unsupported_keyword_is_400', 'tool_choice_required_validates', 'tool_choice_named_picks_that_tool',
          'tool_call_stream_reassembles'), 'grammar')


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


@test
def large_schemas_cost_bounded_time_and_cheap_limits_come_first():
    """An enum of 50,000 values or a tool of 20,000 properties is a prompt 400
    naming the limit (it took minutes under ASan); a prompt too long for the
    context is refused for its length before any grammar is built."""
    s = server()
    big_enum = {'type': 'object', 'properties': {'a': {'type': 'string', 'enum': [f'value-{i}' for i in range(50000)]}}}
    rf = {'type': 'json_schema', 'json_schema': {'name': 'x', 'schema': big_enum}}
    t0 = time.time()
    st, b, _, _ = s.chat(max_tokens=2, response_format=rf)
    assert st == 400 and "'enum' has 50000 values" in b['error']['message'], (st, b)
    assert b['error']['param'] == 'response_format.json_schema.schema', b
    assert time.time() - t0 < 10, time.time() - t0
    props = {f'p{i}': {'type': 'integer'} for i in range(20000)}
    tools = [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': props}}}]
    t0 = time.time()
    st, b, _, _ = s.chat(max_tokens=2, tools=tools, tool_choice='required')
    assert st == 400 and '20000 properties' in b['error']['message'], (st, b)
    assert time.time() - t0 < 20, time.time() - t0
    # the length check first: this request's schema would be refused too, but its
    # prompt does not fit, and that is what it hears (no grammar was built)
    long = ' '.join(['once upon a time'] * 400)
    for extra in ({'response_format': rf}, {'tools': tools, 'tool_choice': 'required'}):
        st, b, _, _ = s.chat(max_tokens=2, messages=[{'role': 'user', 'content': long}], **extra)
        assert st == 400 and b['error']['code'] == 'context_length_exceeded', (st, b)


if __name__ == '__main__':
    try:
        main()
    finally:
        if _server:
            _server.stop()
