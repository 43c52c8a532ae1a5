#!/usr/bin/env python3
"""/v1/completions with echo and logprobs, as evaluation harnesses (lm-evaluation-
harness) and OpenAI's legacy clients use it: the prompt's tokens head the
logprobs (the first null), text_offset indexes the echoed text in characters,
max_tokens 0 scores the prompt alone, prompt lists and streaming, and a prompt
token scores the same as the generated token it was."""
import os

from harness import main, test
from node_checks import register, run_driver
from server_util import MODEL, Server

NO_EOS = {'2': -100}  # stories260K's </s>: keeps generating up to max_tokens
PROMPT = 'Once upon a time, there was a little dog'
_S = None


def S():
    """4 sequences at once and a 4096-token context (the long prompt)."""
    global _S
    if _S is None:
        _S = Server('--parallel', 4, '-c', 4096, '-t', 1)
    return _S


def post(body, want=200):
    st, b, _, _ = S().post('/v1/completions', {'model': MODEL, **body})
    assert st == want, (st, b)
    return b


def check_offsets(text, lp):
    """text[text_offset[i]:] starts with tokens[i]: but for the control tokens
    (no text), SentencePiece's leading space at offset 0 (not in the echoed
    text), and byte tokens of a character (U+FFFD: the offset is that character's)."""
    toks, offs = lp['tokens'], lp['text_offset']
    assert len(offs) == len(toks) and all(0 <= o <= len(text) for o in offs), (offs, len(text))
    assert offs == sorted(offs), offs
    for i, (t, o) in enumerate(zip(toks, offs)):
        if t in ('<s>', '</s>'):
            continue
        if t and set(t) == {'\ufffd'}:
            assert ord(text[o]) > 127, (i, o, text)
            continue
        assert text[o:].startswith(t) or (o == 0 and t.startswith(' ') and text.startswith(t[1:])), \
            (i, t, o, text[o:o + 20], text)


def check_prompt_part(lp, n_prompt, top):
    assert set(lp) == {'tokens', 'token_logprobs', 'top_logprobs', 'text_offset'}, lp
    assert lp['token_logprobs'][0] is None and lp['top_logprobs'][0] is None, lp
    for i in range(1, len(lp['tokens'])):
        v, alts = lp['token_logprobs'][i], lp['top_logprobs'][i]
        assert isinstance(v, float) and v <= 0, (i, v)
        assert isinstance(alts, dict) and 1 <= len(alts) <= top or (top == 0 and alts == {}), (i, alts)
        if alts:  # the best alternative is at least as likely as the token itself
            assert max(alts.values()) >= v - 1e-6, (i, v, alts)
            assert all(a <= 0 for a in alts.values()), alts


@test
def echo_logprobs_cover_prompt_then_completion():
    b = post(dict(prompt=PROMPT, max_tokens=6, temperature=0, echo=True, logprobs=3, logit_bias=NO_EOS))
    (c,) = b['choices']
    u = b['usage']
    lp = c['logprobs']
    assert c['text'].startswith(PROMPT) and len(c['text']) > len(PROMPT), c['text']
    assert c['finish_reason'] == 'length' and u['completion_tokens'] == 6, b
    assert len(lp['tokens']) == u['prompt_tokens'] + 6, (len(lp['tokens']), u)
    check_prompt_part(lp, u['prompt_tokens'], 3)
    check_offsets(c['text'], lp)
    # the generated part starts right after the echoed prompt
    assert lp['text_offset'][u['prompt_tokens']] == len(PROMPT), lp['text_offset']
    # the same prompt without echo: the generated tokens alone, the same figures
    g = post(dict(prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3, logit_bias=NO_EOS))
    glp = g['choices'][0]['logprobs']
    assert glp['tokens'] == lp['tokens'][-6:], (glp['tokens'], lp['tokens'])
    for a, e in zip(glp['token_logprobs'], lp['token_logprobs'][-6:]):
        assert abs(a - e) < 1e-4, (a, e)
    assert [o + len(PROMPT) for o in glp['text_offset']] == lp['text_offset'][-6:]


@test
def generated_tokens_score_the_same_when_resent_as_prompt():
    a = post(dict(prompt='Once upon a time', max_tokens=16, temperature=0, echo=True, logprobs=1,
                  logit_bias=NO_EOS))['choices'][0]
    b = post(dict(prompt=a['text'], max_tokens=0, echo=True, logprobs=1))
    c = b['choices'][0]
    assert c['text'] == a['text'] and b['usage']['completion_tokens'] == 0, (b, a)
    la, lb = a['logprobs'], c['logprobs']
    assert lb['tokens'] == la['tokens'], (lb['tokens'], la['tokens'])  # the text re-tokenizes alike
    assert lb['text_offset'] == la['text_offset']
    assert lb['token_logprobs'][0] is None
    for i in range(1, len(la['tokens'])):
        assert abs(la['token_logprobs'][i] - lb['token_logprobs'][i]) < 1e-4, \
            (i, la['tokens'][i], la['token_logprobs'][i], lb['token_logprobs'][i])


@test
def max_tokens_0_scores_the_prompt_alone():
    b = post(dict(prompt=PROMPT, max_tokens=0, echo=True, logprobs=0))
    (c,) = b['choices']
    assert c['text'] == PROMPT and c['finish_reason'] == 'length', c
    assert b['usage']['completion_tokens'] == 0 and b['usage']['total_tokens'] == b['usage']['prompt_tokens']
    lp = c['logprobs']
    assert len(lp['tokens']) == b['usage']['prompt_tokens']
    check_prompt_part(lp, b['usage']['prompt_tokens'], 0)
    assert all(t == {} for t in lp['top_logprobs'][1:]), lp['top_logprobs']  # logprobs 0: no alternatives
    check_offsets(c['text'], lp)
    # echo without logprobs: the prompt, logprobs null
    b = post(dict(prompt=PROMPT, max_tokens=0, echo=True))
    assert b['choices'][0]['text'] == PROMPT and b['choices'][0]['logprobs'] is None, b
    # a token-id prompt: the echoed text is its detokenized text
    ids = [1, 400, 401, 402]
    b = post(dict(prompt=ids, max_tokens=0, echo=True, logprobs=2))
    c = b['choices'][0]
    assert len(c['logprobs']['tokens']) == 4 and b['usage']['prompt_tokens'] == 4
    check_offsets(c['text'], c['logprobs'])
    # without echo there is nothing to return: refused, and the limits stay
    for body, param in ((dict(max_tokens=0), 'max_tokens'), (dict(max_tokens=0, echo=False), 'max_tokens'),
                        (dict(max_tokens=-2, echo=True), 'max_tokens'), (dict(echo=True, logprobs=21), 'logprobs')):
        e = post(dict(prompt=PROMPT, **body), want=400)['error']
        assert e['type'] == 'invalid_request_error' and e['param'] == param, e


@test
def text_offset_counts_characters_of_multibyte_text():
    p = 'Café ☕ time'  # é is one token, ☕ three byte tokens
    b = post(dict(prompt=p, max_tokens=3, temperature=0, echo=True, logprobs=1, logit_bias=NO_EOS))
    c = b['choices'][0]
    check_offsets(c['text'], c['logprobs'])
    toks, offs = c['logprobs']['tokens'], c['logprobs']['text_offset']
    cup = [o for t, o in zip(toks, offs) if t == '\ufffd']
    assert cup == [p.index('☕')] * 3, (toks, offs)
    assert offs[toks.index(' time')] == p.index(' time'), (toks, offs)


@test
def prompt_list_gives_one_choice_per_prompt_in_order():
    prompts = ['Once upon a time', 'The cat sat', 'Lily']
    b = post(dict(prompt=prompts, n=2, max_tokens=4, temperature=0, echo=True, logprobs=2, logit_bias=NO_EOS))
    assert [c['index'] for c in b['choices']] == list(range(6)), b
    for i, c in enumerate(b['choices']):
        p = prompts[i // 2]
        assert c['text'].startswith(p), (i, c['text'])
        one = post(dict(prompt=p, max_tokens=0, echo=True, logprobs=2))['choices'][0]['logprobs']
        n = len(one['tokens'])
        lp = c['logprobs']
        assert lp['tokens'][:n] == one['tokens'] and lp['text_offset'][:n] == one['text_offset'], (i, lp)
        assert all(abs(x - y) < 1e-4 for x, y in zip(lp['token_logprobs'][1:n], one['token_logprobs'][1:]))
        assert len(lp['tokens']) == n + 4
        check_offsets(c['text'], lp)
    u = b['usage']
    assert u['completion_tokens'] == 24


@test
def streaming_sends_the_echoed_prompt_and_its_logprobs_first():
    prompts = ['Once upon a time', 'The cat sat']
    body = dict(prompt=prompts, max_tokens=5, temperature=0, echo=True, logprobs=2, logit_bias=NO_EOS)
    whole = post(body)
    ev, _, _ = S().stream('/v1/completions', {'model': MODEL, **body})
    assert ev[-1] == '[DONE]'
    text = {0: '', 1: ''}
    lps = {0: None, 1: None}
    finish = {}
    for e in ev[:-1]:
        for ch in e['choices']:
            i = ch['index']
            if lps[i] is None:  # the first chunk of a choice: its prompt, with its logprobs
                assert ch['text'] == prompts[i] and ch['logprobs']['token_logprobs'][0] is None, ch
                lps[i] = {k: [] for k in ch['logprobs']}
            text[i] += ch['text']
            if ch['logprobs']:
                for k, v in ch['logprobs'].items():
                    lps[i][k] += v
            if ch['finish_reason']:
                finish[i] = ch['finish_reason']
    for i, c in enumerate(whole['choices']):
        assert text[i] == c['text'] and finish[i] == 'length', (text[i], c['text'])
        w = c['logprobs']
        assert lps[i]['tokens'] == w['tokens'] and lps[i]['text_offset'] == w['text_offset'], (lps[i], w)
        assert all(x == y or abs(x - y) < 1e-4 for x, y in zip(lps[i]['token_logprobs'][1:], w['token_logprobs'][1:]))
    # max_tokens 0, streamed: the prompt chunk, then the finish
    ev, _, _ = S().stream('/v1/completions', {'model': MODEL, 'prompt': PROMPT, 'max_tokens': 0, 'echo': True,
                                              'logprobs': 1})
    chunks = [ch for e in ev[:-1] for ch in e['choices']]
    assert chunks[0]['text'] == PROMPT and chunks[-1]['finish_reason'] == 'length', chunks
    assert ''.join(c['text'] for c in chunks) == PROMPT


def vm_hwm_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


@test
def long_prompt_is_scored_without_a_memory_blow_up():
    s = S()
    story = ('Once upon a time, there was a little girl named Lily. She loved to play outside in the park '
             'with her dog. One day, they saw a big red ball. ')
    alone = post(dict(prompt=story, max_tokens=0, echo=True, logprobs=5))['choices'][0]['logprobs']
    before = vm_hwm_kb(s.p.pid)
    text = story * 60
    b = post(dict(prompt=text, max_tokens=0, echo=True, logprobs=5))
    c = b['choices'][0]
    n = b['usage']['prompt_tokens']
    assert 2000 <= n < 4096, n
    assert c['text'] == text and len(c['logprobs']['tokens']) == n
    check_prompt_part(c['logprobs'], n, 5)
    check_offsets(c['text'], c['logprobs'])
    # scored over many steps, its start scores as the story alone does (the
    # story's last token, a trailing space, joins the next copy's first word)
    k = len(alone['tokens']) - 1
    lp = c['logprobs']
    assert lp['tokens'][:k] == alone['tokens'][:k]
    assert all(abs(x - y) < 1e-4 for x, y in zip(lp['token_logprobs'][1:k], alone['token_logprobs'][1:k]))
    grew = vm_hwm_kb(s.p.pid) - before
    assert grew < 64 * 1024, f'peak memory grew by {grew} KiB scoring {n} tokens'


_sdk = None


def sdk_results():
    global _sdk
    if _sdk is None:
        env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{S().port}/v1', MODEL=MODEL)
        _sdk, _ = run_driver('completions_echo.mjs', env, timeout=120)
    return _sdk


register(sdk_results, ('score_prompt', 'stream_echo_first'), 'sdk')

if __name__ == '__main__':
    try:
        main()
    finally:
        if _S is not None:
            _S.stop()
