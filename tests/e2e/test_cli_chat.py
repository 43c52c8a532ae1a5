#!/usr/bin/env python3
"""The first hour with the CLI, as a new user meets it: `lmx chat` in a real
terminal (tmux, at 60 and 120 columns) and with a prompt, `lmx run MODEL
PROMPT`, store names wherever a model file works, version/help, did-you-mean
for typos, `lmx show` / `lmx import`, and the shell completion `make install`
lays out. The store is a temporary directory given as LMX_MODELS_DIR."""
import os, re, shutil, subprocess, tempfile

from harness import ROOT, STORIES, LMX, lmx, main, test
from term import Terminal

_tmp = tempfile.mkdtemp(prefix='lmx-hour-')
STORE = os.path.join(_tmp, 'store')
os.makedirs(STORE)
shutil.copy(STORIES, os.path.join(STORE, 'stories260K.gguf'))
ENV = dict(os.environ, LMX_MODELS_DIR=STORE)
CHATML = '<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n'


def cli(*args, check=True, input=None, env=ENV):
    if input is None:
        return lmx(*args, check=check, env=env)
    p = subprocess.run([LMX, *map(str, args)], input=input.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, env=env)
    p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
    if check:
        assert p.returncode == 0, p.stderr
    return p


@test
def chat_with_a_prompt_answers_through_the_chat_template_and_exits():
    # stories260K has no chat template: ChatML is used. Its text has no control tokens in this
    # vocabulary, so the greedy answer is lmx run's continuation of the rendered prompt.
    p = cli('chat', 'stories260K', 'Once upon a time', '--temp', 0, '-n', 12)
    ref = cli('run', 'stories260K', CHATML.format('Once upon a time'), '--temp', 0, '-n', 12)
    assert p.stdout.endswith('\n') and p.stdout.strip(), repr(p.stdout)
    assert p.stdout == ref.stdout, (p.stdout, ref.stdout)
    # the prompt on stdin: the same answer
    q = cli('chat', 'stories260K', '--temp', 0, '-n', 12, input='Once upon a time\n')
    assert q.stdout == p.stdout, (q.stdout, p.stdout)
    # a system prompt goes into the template as the system turn
    s = cli('chat', 'stories260K', 'Once upon a time', '--system', 'Lily', '--temp', 0, '-n', 12)
    ref = cli('run', 'stories260K',
              '<|im_start|>system\nLily<|im_end|>\n' + CHATML.format('Once upon a time'),
              '--temp', 0, '-n', 12)
    assert s.stdout == ref.stdout, (s.stdout, ref.stdout)


def chat_in_a_terminal(cols):
    t = Terminal([LMX, 'chat', 'stories260K', '--temp', 0, '-n', 8], cols=cols, env=ENV)
    try:
        assert t.width() == cols
        t.wait_for(lambda s: s.rstrip().endswith('>>>'), what='the first prompt')
        t.type_line('Once upon a time')
        # the answer is printed, then a new prompt
        t.wait_for(lambda s: s.count('>>>') >= 2, what='the answer and the next prompt')
        t.type_line('/model')
        s = t.wait_for(lambda s: 'history   2 messages' in s, what='/model')
        assert 'context   2048 tokens' in s and 'ChatML' in s, s
        # multi-line input: a """ block and a \ continuation, each one message
        t.type_line('"""')
        t.type_line('Tom had a dog.')
        t.type_line('The dog was big."""')
        t.wait_for(lambda s: s.count('>>>') >= 4, what='the block answer')
        t.type_line('He ran \\')
        t.type_line('fast.')
        t.wait_for(lambda s: s.count('>>>') >= 5, what='the continued line answer')
        assert '... ' in t.screen(), t.screen()
        t.type_line('/model')
        t.wait_for(lambda s: 'history   6 messages' in s, what='three exchanges in the history')
        t.type_line('/system Be kind.')
        t.wait_for(lambda s: '(system prompt set)' in s, what='/system')
        t.type_line('/clear')
        t.wait_for(lambda s: '(conversation cleared)' in s, what='/clear')
        t.type_line('/model')
        s = t.wait_for(lambda s: 'history   0 messages' in s, what='/clear emptied the history')
        assert 'system    Be kind.' in s, s
        t.type_line('/nope')
        t.wait_for(lambda s: 'unknown command /nope' in s, what='an unknown command')
        # Ctrl-C at the prompt does not quit; /bye does
        t.send('C-c')
        t.wait_for(lambda s: '/bye or Ctrl-D' in s, what='the Ctrl-C hint')
        t.type_line('/bye')
        t.wait_for(lambda s: t.dead(), timeout=20, what='exit on /bye')
        assert t.exit_status() == 0, (t.exit_status(), t.screen())
        for line in t.screen().splitlines():
            assert len(line) <= cols, line
    finally:
        t.close()


@test
def chat_interactive_at_60_columns():
    chat_in_a_terminal(60)


@test
def chat_interactive_at_120_columns():
    chat_in_a_terminal(120)


@test
def chat_quits_on_ctrl_d():
    t = Terminal([LMX, 'chat', 'stories260K'], cols=80, env=ENV)
    try:
        t.wait_for(lambda s: s.rstrip().endswith('>>>'), what='the prompt')
        t.send('C-d')
        t.wait_for(lambda s: t.dead(), timeout=20, what='exit on Ctrl-D')
        assert t.exit_status() == 0, (t.exit_status(), t.screen())
    finally:
        t.close()


@test
def run_takes_the_model_and_prompt_as_arguments_or_stdin_and_ends_with_a_newline():
    a = cli('run', 'stories260K', 'Once upon a time', '--temp', 0, '-n', 10)
    b = cli('run', '-m', STORIES, '-p', 'Once upon a time', '--temp', 0, '-n', 10)
    c = cli('run', 'stories260K', '--temp', 0, '-n', 10, input='Once upon a time\n')
    assert a.stdout == b.stdout == c.stdout and a.stdout.endswith('\n'), (a.stdout, b.stdout, c.stdout)


@test
def store_names_work_wherever_a_model_file_does():
    ids = cli('tokenize', '-m', STORIES, 'Once').stdout
    for name in ('stories260K', 'stories260K:latest', 'stories260K.gguf'):
        assert cli('tokenize', '-m', name, 'Once').stdout == ids, name
        assert cli('inspect', name).stdout.startswith('llama'), name
        assert 'llama' in cli('show', name).stdout, name
        assert cli('run', name, 'Once', '-n', 2).stdout.endswith('\n'), name
        t = cli('template', '-m', name).stdout
        assert t.endswith('<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n'), (name, t)
    p = cli('bench', 'stories260K', '-p', 8, '-n', 4, '--json')
    assert '"decode_tok_s"' in p.stdout, p.stdout


@test
def an_unknown_model_lists_the_store_with_a_did_you_mean():
    p = cli('run', 'storis260K', 'hi', check=False)
    assert p.returncode == 1, p
    assert "did you mean 'stories260K'" in p.stderr and STORE in p.stderr, p.stderr
    assert 'models in the store: stories260K' in p.stderr, p.stderr
    p = cli('chat', 'nothing-like-it', 'hi', check=False)
    assert p.returncode == 1 and 'did you mean' not in p.stderr and 'stories260K' in p.stderr, p.stderr
    # an empty store says how to add a model
    empty = tempfile.mkdtemp(prefix='lmx-empty-', dir=_tmp)
    p = cli('show', 'stories260K', check=False, env=dict(ENV, LMX_MODELS_DIR=empty))
    assert p.returncode == 1 and 'lmx pull' in p.stderr and 'lmx import' in p.stderr, p.stderr


@test
def version_and_help_on_every_command():
    v = lmx('--version').stdout
    assert re.fullmatch(r'lmx \d+\.\d+\.\d+\n', v), v
    assert lmx('version').stdout == v and lmx('-V').stdout == v
    top = lmx('help').stdout
    cmds = [l.split()[0] for l in top.splitlines() if l.startswith('  ') and l[2].isalpha()]
    assert {'chat', 'run', 'show', 'import', 'pull', 'inspect', 'bench'} <= set(cmds), cmds
    for c in cmds:
        if c in ('help', 'version'):
            continue
        h = lmx(c, '--help')
        assert h.returncode == 0 and h.stdout.startswith(f'usage: lmx {c}'), (c, h.stdout, h.stderr)
        assert lmx('help', c).stdout == h.stdout, c


@test
def typos_get_one_message_with_a_did_you_mean():
    p = lmx('chta', check=False)
    assert p.returncode == 2 and "did you mean 'chat'" in p.stderr, p.stderr
    for args, want in ((('run', STORIES, 'x', '--tmep', 0), '--temp'),
                       (('inspect', STORIES, '--ful'), '--full'),
                       (('bench', STORIES, '--jsno'), '--json'),
                       (('chat', STORIES, '--sytem', 'x'), '--system'),
                       (('tokenize', '-m', STORIES, '--no-bso', 'x'), '--no-bos')):
        p = lmx(*args, check=False)
        assert p.returncode == 2, (args, p.stderr)
        assert f"did you mean '{want}'" in p.stderr, (args, p.stderr)


@test
def import_links_a_file_into_the_store_and_show_summarizes_it():
    store = tempfile.mkdtemp(prefix='lmx-import-', dir=_tmp)
    env = dict(ENV, LMX_MODELS_DIR=store)
    p = cli('import', STORIES, '--name', 'tiny/story', env=env)
    assert p.stdout.startswith('imported tiny/story (llama'), p.stdout
    assert os.path.exists(os.path.join(store, 'tiny', 'story.gguf'))
    p = cli('import', STORIES, '--name', 'tiny/story', env=env, check=False)
    assert p.returncode == 1 and 'already has' in p.stderr, p.stderr
    s = cli('show', 'tiny/story', env=env).stdout
    for want in ('architecture  llama', 'quantization', 'context       2048', 'template',
                 'capabilities  completion, chat', "at lmx serve's defaults"):
        assert want in s, (want, s)
    p = cli('import', os.path.join(ROOT, 'README.md'), env=env, check=False)
    assert p.returncode == 1 and 'not a model file' in p.stderr, p.stderr


@test
def make_install_lays_out_bash_and_zsh_completion():
    dest = tempfile.mkdtemp(prefix='lmx-inst-', dir=_tmp)
    build = os.path.dirname(LMX)
    subprocess.run(['make', '-s', 'install', f'DESTDIR={dest}', 'PREFIX=/usr', f'BUILD={build}'],
                   cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    bash = os.path.join(dest, 'usr/share/bash-completion/completions/lmx')
    assert os.path.exists(os.path.join(dest, 'usr/share/zsh/site-functions/_lmx'))
    # bash completes commands and a command's options from the installed binary
    script = (f'PATH={os.path.join(dest, "usr/bin")}:$PATH; source {bash}; '
              'COMP_WORDS=(lmx ch); COMP_CWORD=1; _lmx; echo "${COMPREPLY[@]}"; '
              'COMP_WORDS=(lmx chat --sy); COMP_CWORD=2; _lmx; echo "${COMPREPLY[@]}"')
    p = subprocess.run(['bash', '-c', script], stdout=subprocess.PIPE, text=True, timeout=30)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ['chat'], p.stdout
    assert lines[1].split() == ['--system'], p.stdout


if __name__ == '__main__':
    try:
        main()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
