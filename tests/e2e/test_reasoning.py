#!/usr/bin/env python3
"""Reasoning (<think> thoughts) through /v1/chat/completions, end to end.

stories260K is served with real thinking templates from ../shared/templates
written into a copy of its GGUF. A tiny random model never closes a thought,
so what is checked is the split the template decides: with QwQ's template and
enable_thinking the prompt ends inside an open <think>, so the whole output is
the thought (reasoning_content equals the raw output — as reasoning_format
"none" shows it — without its outer whitespace; content is empty; every
token counts as a reasoning token), streamed or not; without enable_thinking
the template closes the thought in the prompt and everything is content.
reasoning_effort and chat_template_kwargs reach the template. The splitter
itself (tags split at every byte, tool calls after a thought) is
tests/unit/test_reasoning.c."""
import os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHARED, STORIES, main, test
from server_util import Server, gguf_with_template

MODEL = 'stories-think'
NO_EOS = {'2': -100}
TMP = tempfile.mkdtemp(prefix='lmx-reasoning-')
_servers = {}


def server(template_name):
    if template_name not in _servers:
        if template_name.endswith('.jinja'):
            src = open(os.path.join(SHARED, 'templates', template_name)).read()
        else:
            src = template_name
        path = os.path.join(TMP, f'{MODEL}.gguf')
        if os.path.exists(path):
            os.unlink(path)
        gguf_with_template(STORIES, path, src)
        for s in _servers.values():
            s.__exit__()
        _servers.clear()
        _servers[template_name] = Server('-m', path, '--parallel', 2, '-c', 512, '-t', 1, model=None)
    return _servers[template_name]


def chat(s, **kw):
    body = {'model': MODEL, 'messages': [{'role': 'user', 'content': 'Tell me a story'}],
            'max_tokens': 24, 'temperature': 0, 'logit_bias': NO_EOS, **kw}
    st, j, _, raw = s.post('/v1/chat/completions', body)
    assert st == 200, raw
    return j


THINK = {'chat_template_kwargs': {'enable_thinking': True}}


@test
def open_thought_goes_to_reasoning_content():
    s = server('Qwen-QwQ-32B.jinja')
    raw = chat(s, reasoning_format='none', **THINK)['choices'][0]['message']
    assert 'reasoning_content' not in raw and raw['content'], raw
    assert '</think>' not in raw['content']
    r = chat(s, **THINK)
    m = r['choices'][0]['message']
    assert m['reasoning_content'] == raw['content'].strip(' \t\r\n'), (m, raw)
    assert m['content'] == '', m
    u = r['usage']
    assert u['completion_tokens'] == 24 and u['completion_tokens_details']['reasoning_tokens'] == 24, u


@test
def open_thought_streams_as_reasoning_deltas():
    s = server('Qwen-QwQ-32B.jinja')
    plain = chat(s, **THINK)
    events, _, _ = s.stream('/v1/chat/completions', {
        'model': MODEL, 'messages': [{'role': 'user', 'content': 'Tell me a story'}], 'max_tokens': 24,
        'temperature': 0, 'logit_bias': NO_EOS, 'stream_options': {'include_usage': True}, **THINK})
    reasoning, content, usage, finish = '', '', None, None
    for e in events:
        if e == '[DONE]':
            continue
        if e.get('usage'):
            usage = e['usage']
        for ch in e['choices']:
            reasoning += ch['delta'].get('reasoning_content') or ''
            content += ch['delta'].get('content') or ''
            finish = ch.get('finish_reason') or finish
    assert reasoning == plain['choices'][0]['message']['reasoning_content'], (reasoning, plain)
    assert content == '' and finish == 'length', (content, finish)
    assert '<think>' not in reasoning and '</think>' not in reasoning
    assert usage['completion_tokens_details']['reasoning_tokens'] == 24, usage


@test
def thought_with_tools_still_goes_to_reasoning_content():
    # the answer after a thought goes through the tool-call parser; here the
    # output never leaves the thought, so there is no call and no content
    s = server('Qwen-QwQ-32B.jinja')
    tools = [{'type': 'function', 'function': {'name': 'get_weather', 'parameters': {
        'type': 'object', 'properties': {'location': {'type': 'string'}}}}}]
    r = chat(s, tools=tools, **THINK)
    m = r['choices'][0]['message']
    assert m['reasoning_content'] and 'tool_calls' not in m and m['content'] == '', m
    assert r['choices'][0]['finish_reason'] == 'length'
    events, _, _ = s.stream('/v1/chat/completions', {
        'model': MODEL, 'messages': [{'role': 'user', 'content': 'Tell me a story'}], 'max_tokens': 24,
        'temperature': 0, 'logit_bias': NO_EOS, 'tools': tools, **THINK})
    got = ''.join(ch['delta'].get('reasoning_content') or '' for e in events if e != '[DONE]' for ch in e['choices'])
    assert got == m['reasoning_content'], (got, m)


@test
def closed_thought_in_the_prompt_means_all_content():
    s = server('Qwen-QwQ-32B.jinja')
    # this template closes the thought unless enable_thinking is set
    raw = chat(s, reasoning_format='none')['choices'][0]['message']['content']
    r = chat(s)
    m = r['choices'][0]['message']
    assert 'reasoning_content' not in m and m['content'] == raw, (m, raw)
    assert r['usage']['completion_tokens_details']['reasoning_tokens'] == 0
    thinking = chat(s, **THINK)
    assert thinking['usage']['prompt_tokens'] < r['usage']['prompt_tokens']  # no '</think>' appended


@test
def qwen3_enable_thinking_false_reaches_the_template():
    s = server('Qwen-Qwen3-0.6B.jinja')
    on = chat(s)
    off = chat(s, chat_template_kwargs={'enable_thinking': False})
    # Qwen3 writes an empty <think></think> into the prompt when thinking is off
    assert off['usage']['prompt_tokens'] > on['usage']['prompt_tokens'], (on['usage'], off['usage'])
    for r in (on, off):
        m = r['choices'][0]['message']
        assert m['content'] and 'reasoning_content' not in m, m


@test
def reasoning_effort_reaches_the_template_and_is_checked():
    s = server("{% for m in messages %}{{ m.content }}{% endfor %}"
               "{% if reasoning_effort %} effort {{ reasoning_effort }}{% endif %}<think>\n")
    a = chat(s)
    b = chat(s, reasoning_effort='high')
    assert b['usage']['prompt_tokens'] > a['usage']['prompt_tokens'], (a['usage'], b['usage'])
    assert b['choices'][0]['message']['reasoning_content']
    st, j, _, raw = s.post('/v1/chat/completions', {'model': MODEL, 'messages': [{'role': 'user', 'content': 'x'}],
                                                    'reasoning_effort': 'extreme'})
    assert st == 400 and j['error']['param'] == 'reasoning_effort', raw
    st, j, _, raw = s.post('/v1/chat/completions', {'model': MODEL, 'messages': [{'role': 'user', 'content': 'x'}],
                                                    'reasoning_format': 'raw'})
    assert st == 400 and j['error']['param'] == 'reasoning_format', raw


if __name__ == '__main__':
    try:
        main()
    finally:
        for s in _servers.values():
            s.__exit__()
