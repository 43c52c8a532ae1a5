#!/usr/bin/env python3
"""End-to-end: `lmx template` renders reference chat-template cases byte for byte, reports
template errors (raise_exception) on stderr with exit 1, and usage errors with exit 2.

Env: LMX_BIN (the lmx binary), LMX_SHARED (the shared dir). Prints "N passed, N failed" last."""
import json, os, subprocess, sys, tempfile, time

BIN = os.environ.get('LMX_BIN', 'build/lmx')
SHARED = os.environ.get('LMX_SHARED', '../shared')
# 2026-11-23 09:30 local time, as the references were rendered
NOW = int(time.mktime((2026, 11, 23, 9, 30, 0, 0, 0, -1)))
WANT = [
    ('Qwen-Qwen2.5-7B-Instruct', 'tools'),
    ('meta-llama-Llama-3.1-8B-Instruct', 'tool_roundtrip'),  # uses strftime_now
    ('openai-gpt-oss-120b', 'unicode'),
    ('Qwen-Qwen3-0.6B', 'thinking_off'),
    ('google-gemma-2-2b-it', 'system_user'),  # raise_exception
    ('mistralai-Mistral-Nemo-Instruct-2407', 'tool_roundtrip'),  # raise_exception
]

passed = failed = 0


def check(name, ok, detail=''):
    global passed, failed
    if ok:
        passed += 1
        print(f'ok   {name}')
    else:
        failed += 1
        print(f'FAIL {name} {detail}')


def context(case, row):
    ctx = dict(case.get('kwargs', {}))
    ctx.update(messages=case['messages'], add_generation_prompt=case.get('add_generation_prompt', True),
               bos_token=row['bos_token'], eos_token=row['eos_token'])
    if case.get('tools') is not None:
        ctx['tools'] = case['tools']
    return ctx


def main():
    cases = {c['case']: c for c in json.load(open(os.path.join(SHARED, 'refs', 'chat_cases.json')))}
    rows = {}
    for line in open(os.path.join(SHARED, 'refs', 'chat_templates.jsonl'), encoding='utf-8'):
        r = json.loads(line)
        rows[(r['template'], r['case'])] = r
    with tempfile.TemporaryDirectory() as tmp:
        for tname, cname in WANT:
            row = rows[(tname, cname)]
            cpath = os.path.join(tmp, 'ctx.json')
            with open(cpath, 'w', encoding='utf-8') as f:
                json.dump(context(cases[cname], row), f, ensure_ascii=False)
            tpath = os.path.join(SHARED, 'templates', tname + '.jinja')
            p = subprocess.run([BIN, 'template', '--template', tpath, '--context', cpath, '--now', str(NOW)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            name = f'{tname}/{cname}'
            if 'output' in row:
                got = p.stdout.decode('utf-8', 'replace')
                check(name, p.returncode == 0 and got == row['output'],
                      f'rc={p.returncode} stderr={p.stderr[:200]!r} same={got == row["output"]}')
            else:
                msg = row['error'].split(': ', 1)[1]
                err = p.stderr.decode('utf-8', 'replace').strip()
                check(name, p.returncode == 1 and p.stdout == b'' and err == msg, f'rc={p.returncode} stderr={err!r}')
        # syntax error: exit 1 with line:col on stderr
        bad = os.path.join(tmp, 'bad.jinja')
        with open(bad, 'w') as f:
            f.write('ok\n{% if x %}never closed')
        with open(os.path.join(tmp, 'empty.json'), 'w') as f:
            f.write('{}')
        p = subprocess.run([BIN, 'template', '--template', bad, '--context', os.path.join(tmp, 'empty.json')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check('syntax error exits 1 with position', p.returncode == 1 and b'opened at 2:1' in p.stderr,
              f'rc={p.returncode} {p.stderr!r}')
        # usage errors: exit 2
        for args in ([], ['--template', bad], ['--bogus', 'x'], ['--template', bad, '--context', '/nonexistent.json']):
            p = subprocess.run([BIN, 'template'] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            check(f'usage error {args} exits 2', p.returncode == 2, f'rc={p.returncode}')
    print(f'{passed} passed, {failed} failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
