"""Tool calling through /v1/chat/completions, end to end.

The model is the synthetic Qwen-vocabulary one (random weights, real Qwen 2.5
tokenizer and chat template). A random model never writes a tool call on its
own, so what is covered here is:
  - requests with tools, tool_choice and a history of tool calls / tool results
    are accepted and rendered through the template (tools reach the prompt);
  - the parser path, driven by tool_choice forcing: a named function (or
    "required") opens the call in the prompt, and logit_bias on the end-of-text
    tokens makes the model stop at once. With the Qwen3-Coder template the
    opening alone is a whole call, so message.tool_calls / delta.tool_calls and
    finish_reason "tool_calls" come out of the real server; with the Qwen 2.5
    template the opening is not a whole call, so it comes back as content.
Each format's parsing in detail (parallel calls, text before, malformed calls,
every stream split) is tests/unit/test_toolcall.c."""
import json, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, main, test
from node_checks import run_driver_all_pass
from server_util import Server, gguf_with_template, stream_text

QWEN = os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
MODEL = 'qwen2-vocab-q8_0'
EOS_BIAS = {'151645': 100, '151643': 100}  # <|im_end|>, <|endoftext|>
TOOLS = [{'type': 'function', 'function': {
    'name': 'get_weather', 'description': 'Current weather in a city.',
    'parameters': {'type': 'object', 'properties': {'location': {'type': 'string'}},
                   'required': ['location']}}},
    {'type': 'function', 'function': {'name': 'get_time', 'parameters': {'type': 'object', 'properties': {}}}}]
HISTORY = [
    {'role': 'system', 'content': 'You are helpful.'},
    {'role': 'user', 'content': 'Weather and time in Paris?'},
    {'role': 'assistant', 'content': None, 'tool_calls': [
        {'id': 'call_a1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': '{"location": "Paris"}'}},
        {'id': 'call_b2', 'type': 'function', 'function': {'name': 'get_time', 'arguments': '{}'}}]},
    {'role': 'tool', 'tool_call_id': 'call_a1', 'name': 'get_weather', 'content': '{"temp_c": 21}'},
    {'role': 'tool', 'tool_call_id': 'call_b2', 'name': 'get_time', 'content': '14:05'},
    {'role': 'user', 'content': 'Thanks. And Lyon?'}]

_servers = {}


def server(kind='qwen25'):
    if kind not in _servers:
        if kind == 'qwen25':
            _servers[kind] = Server('-c', 4096, '-t', 2, '--parallel', 2, model=QWEN)
        else:
            tmpl = open(os.path.join(SHARED, 'templates', 'Qwen3-Coder.jinja')).read()
            path = os.path.join(tempfile.gettempdir(), f'lmx-tools-coder-{os.getpid()}.gguf')
            gguf_with_template(QWEN, path, tmpl)
            _servers[kind] = Server('-c', 4096, '-t', 2, '--parallel', 2, model=path)
            _servers[kind].tmp = path
    return _servers[kind]


def chat(s, **body):
    body.setdefault('model', MODEL if s is _servers.get('qwen25') else os.path.basename(s.tmp)[:-5])
    body.setdefault('messages', [{'role': 'user', 'content': 'Weather in Paris?'}])
    body.setdefault('max_tokens', 4)
    return s.post('/v1/chat/completions', body)


def check_message(b):
    """A well-formed chat.completion; returns choice 0."""
    assert b['object'] == 'chat.completion', b
    c = b['choices'][0]
    m = c['message']
    assert m['role'] == 'assistant'
    assert m['content'] is None or isinstance(m['content'], str)
    assert c['finish_reason'] in ('stop', 'length', 'tool_calls'), c
    for tc in m.get('tool_calls') or []:
        assert tc['type'] == 'function' and tc['id'].startswith('call_'), tc
        assert isinstance(tc['function']['name'], str)
        assert isinstance(json.loads(tc['function']['arguments']), dict)
    return c


@test
def tools_and_tool_history_are_accepted_and_rendered():
    s = server()
    st, b, _, _ = chat(s, tools=TOOLS, messages=HISTORY, temperature=0)
    assert st == 200, b
    check_message(b)
    with_tools = b['usage']['prompt_tokens']
    st, b, _, _ = chat(s, messages=HISTORY, temperature=0)
    assert st == 200, b
    without = b['usage']['prompt_tokens']
    assert with_tools > without + 50, (with_tools, without)  # the tool list is in the prompt
    # tool_choice none: the tools are not shown to the model
    st, b, _, _ = chat(s, tools=TOOLS, tool_choice='none', messages=HISTORY, temperature=0)
    assert st == 200 and b['usage']['prompt_tokens'] == without, b
    # arguments given as an object, parallel_tool_calls, auto, streamed
    hist = json.loads(json.dumps(HISTORY))
    hist[2]['tool_calls'][0]['function']['arguments'] = {'location': 'Paris'}
    st, b, _, _ = chat(s, tools=TOOLS, tool_choice='auto', parallel_tool_calls=False, messages=hist)
    assert st == 200, b
    check_message(b)
    events, _, _ = s.stream('/v1/chat/completions', {'model': MODEL, 'messages': HISTORY, 'tools': TOOLS,
                                                     'max_tokens': 4})
    assert events[-1] == '[DONE]'
    assert events[-2]['choices'][0]['finish_reason'] in ('stop', 'length', 'tool_calls')


@test
def tool_request_errors_name_the_field():
    s = server()
    cases = [
        (dict(tool_choice='required'), 'tool_choice'),
        (dict(tools=TOOLS, tool_choice='sometimes'), 'tool_choice'),
        (dict(tools=TOOLS, tool_choice={'type': 'function', 'function': {'name': 'nope'}}), 'tool_choice'),
        (dict(tools=TOOLS, tool_choice={'type': 'function'}), 'tool_choice'),
        (dict(tools=TOOLS, tool_choice=3), 'tool_choice'),
        (dict(tools=[{'type': 'function'}]), 'tools[0].function'),
        (dict(tools=[{'type': 'function', 'function': {}}]), 'tools[0].function.name'),
        (dict(tools=[{'type': 'retrieval', 'function': {'name': 'x'}}]), 'tools[0].type'),
        (dict(tools=TOOLS, parallel_tool_calls='yes'), 'parallel_tool_calls'),
        (dict(messages=[{'role': 'assistant', 'content': None, 'tool_calls': {}}]), 'messages[0].tool_calls'),
    ]
    for body, param in cases:
        st, b, _, _ = chat(s, **body)
        assert st == 400 and b['error']['param'] == param, (body, st, b)


@test
def forced_named_call_comes_back_as_tool_calls():
    s = server('coder')
    body = dict(tools=TOOLS, tool_choice={'type': 'function', 'function': {'name': 'get_weather'}},
                logit_bias=EOS_BIAS, temperature=0)
    st, b, _, _ = chat(s, **body)
    assert st == 200, b
    c = check_message(b)
    assert c['finish_reason'] == 'tool_calls', c
    m = c['message']
    assert m['content'] is None, m
    assert len(m['tool_calls']) == 1
    tc = m['tool_calls'][0]
    assert tc['function'] == {'name': 'get_weather', 'arguments': '{}'}, tc
    assert len(tc['id']) == 29 and tc['id'][5:].isalnum(), tc

    # the same streamed: a chunk with id/type/name (arguments ""), one with the arguments
    events, _, raw = s.stream('/v1/chat/completions', {'model': chat_model(s), 'messages': [
        {'role': 'user', 'content': 'Weather in Paris?'}], 'max_tokens': 4, **body})
    assert events[-1] == '[DONE]'
    texts, finish = stream_text(events)
    assert texts == [''] and finish == ['tool_calls'], (texts, finish, raw)
    deltas = [ch['delta']['tool_calls'] for e in events[:-1] for ch in e['choices']
              if ch['delta'].get('tool_calls')]
    assert len(deltas) == 2, raw
    first, second = deltas[0][0], deltas[1][0]
    assert first['index'] == 0 and first['type'] == 'function' and first['id'].startswith('call_')
    assert first['function'] == {'name': 'get_weather', 'arguments': ''}, first
    assert second == {'index': 0, 'function': {'arguments': '{}'}}, second
    assert '<tool_call>' not in raw and '<function' not in raw


def chat_model(s):
    return os.path.basename(s.tmp)[:-5]


@test
def forced_required_is_constrained_to_a_valid_call():
    # Qwen 2.5 form: after the "<tool_call>\n" opening the grammar allows only
    # {"name": one of the tools, "arguments": valid under its parameters}, the
    # closing, then the end of text -- even from a random-weights model
    s = server()
    names = {t['function']['name'] for t in TOOLS}
    for seed in (1, 2):
        body = dict(tools=TOOLS, tool_choice='required', temperature=1.0, seed=seed, max_tokens=64)
        st, b, _, _ = chat(s, **body)
        c = check_message(b)
        assert c['finish_reason'] == 'tool_calls', c
        (tc,) = c['message']['tool_calls']
        assert tc['function']['name'] in names, tc
        args = json.loads(tc['function']['arguments'])
        if tc['function']['name'] == 'get_weather':
            assert isinstance(args.get('location'), str), args
        events, _, raw = s.stream('/v1/chat/completions', {'model': MODEL, 'messages': [
            {'role': 'user', 'content': 'Weather in Paris?'}], **body})
        deltas = [d for e in events[:-1] for ch in e['choices'] for d in ch['delta'].get('tool_calls') or []]
        assert deltas and deltas[0]['function']['name'] == tc['function']['name'], raw
        assert ''.join(d['function']['arguments'] for d in deltas) == tc['function']['arguments'], raw
    # a budget too small for any call: the opening comes back as content, nothing dropped
    st, b, _, _ = chat(s, tools=TOOLS, tool_choice='required', temperature=0, max_tokens=2)
    c = check_message(b)
    assert c['finish_reason'] == 'length' and c['message']['content'].startswith('<tool_call>\n'), c


@test
def openai_sdk_reads_the_tool_calls():
    """The official npm SDK's create() and stream helper (which assembles
    delta.tool_calls) see the same forced call (node/tools.mjs)."""
    s = server('coder')
    env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=chat_model(s))
    run_driver_all_pass('tools.mjs', env, 2, timeout=120)


if __name__ == '__main__':
    try:
        main()
    finally:
        for s in _servers.values():
            s.stop()
            if getattr(s, 'tmp', None):
                os.unlink(s.tmp)
