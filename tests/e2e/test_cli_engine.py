#!/usr/bin/env python3
"""lmx run / tokenize / inspect / bench driven as a user would, and bad model
files refused with a one-line error."""
import json, os, struct, tempfile

from harness import SHARED, STORIES, lmx, main, test

REFS = os.path.join(SHARED, 'refs')


def ref_lines(model):
    with open(os.path.join(REFS, 'generate.jsonl')) as f:
        return [l for l in map(json.loads, f) if l['model'] == model]


def agreed_prefix(line, tol):
    """Steps up to the first near tie (llama.cpp's top two within tol): past it either is right."""
    for i, st in enumerate(line['steps']):
        if abs(st['top'][0][1] - st['top'][1][1]) <= tol:
            return i + 1  # the tied step itself may go either way; compare before it
    return len(line['steps'])


@test
def run_greedy_reproduces_llama_cpp_continuations():
    lines = ref_lines('stories260K.gguf')
    assert lines
    for line in lines:
        p = lmx('run', '-m', STORIES, '-p', line['prompt'], '-n', len(line['tokens']),
                '--temp', 0, '--json', '--ignore-eos')
        out = json.loads(p.stdout)
        assert out['prompt_tokens'] == line['prompt_tokens'], (line['prompt'], out['prompt_tokens'])
        n = agreed_prefix(line, 0.05)
        assert out['tokens'][:n - 1] == line['tokens'][:n - 1], (line['prompt'], out['tokens'], line['tokens'])


@test
def run_prints_only_the_generated_text():
    line = ref_lines('stories260K.gguf')[0]
    p = lmx('run', '-m', STORIES, '-p', line['prompt'], '-n', 24, '--temp', 0, '--ignore-eos')
    assert p.stdout == line['text'] + '\n', (p.stdout, line['text'])
    assert 'tok/s' in p.stderr


@test
def run_seed_gives_same_text_and_other_seed_differs():
    a = lmx('run', '-m', STORIES, '-p', 'Once upon a time', '-n', 40, '--seed', 7, '--temp', 1.0).stdout
    b = lmx('run', '-m', STORIES, '-p', 'Once upon a time', '-n', 40, '--seed', 7, '--temp', 1.0).stdout
    c = lmx('run', '-m', STORIES, '-p', 'Once upon a time', '-n', 40, '--seed', 8, '--temp', 1.0).stdout
    assert a == b and a != c


@test
def tokenize_prints_a_json_array_of_ids():
    line = ref_lines('stories260K.gguf')[0]
    p = lmx('tokenize', '-m', STORIES, line['prompt'])
    assert json.loads(p.stdout) == line['prompt_tokens']
    p = lmx('tokenize', '-m', STORIES, '--no-bos', line['prompt'])
    assert json.loads(p.stdout) == line['prompt_tokens'][1:]


@test
def inspect_shows_metadata_tensors_and_memory():
    p = lmx('inspect', STORIES)
    assert 'general.architecture' in p.stdout and 'token_embd.weight' in p.stdout
    # a one-line summary first, then the memory lmx serve needs at its defaults
    # (context 2048 = the model's, 2 x 8 sequences), never "0 positions"
    first, second = p.stdout.splitlines()[:2]
    assert first.startswith('llama') and 'parameters' in first and 'context 2048' in first, first
    assert "at lmx serve's defaults" in second and 'context 2048 x 16' in second, second
    assert ' 0 position' not in p.stdout, p.stdout
    p = lmx('inspect', STORIES, '-c', 256)
    assert 'memory for 256 positions' in p.stdout and 'kv cache' in p.stdout and 'total' in p.stdout


@test
def bench_json_reports_speeds_and_bandwidth():
    p = lmx('bench', '-m', STORIES, '-p', 16, '-n', 8, '--json')
    o = json.loads(p.stdout)
    for k in ('prefill_tok_s', 'decode_tok_s', 'bandwidth_gbs', 'bandwidth_fraction'):
        assert k in o and o[k] > 0, (k, o)


@test
def bench_parallel_decodes_several_sequences_at_once():
    p = lmx('bench', '-m', STORIES, '-p', 4, '-n', 8, '-np', 4, '--json')
    o = json.loads(p.stdout)
    assert o['parallel'] == 4 and o['decode_tok_s'] > 0, o
    p = lmx('bench', '-m', STORIES, '-np', 0, check=False)
    assert p.returncode == 2 and "'-np'" in p.stderr, p.stderr


def corrupt(data, desc, cmds=('run', 'inspect')):
    """Writes a corrupted copy and checks `lmx run` refuses it in one line, exit != 0."""
    with tempfile.NamedTemporaryFile(suffix='.gguf', delete=False) as f:
        f.write(data)
        path = f.name
    try:
        all_cmds = {'run': ['run', '-m', path, '-p', 'hi', '-n', 2], 'inspect': ['inspect', path]}
        for cmd in (all_cmds[c] for c in cmds):
            p = lmx(*cmd, check=False)
            assert p.returncode not in (0, -11, -6, 134, 139), (desc, p.returncode, p.stderr)
            err = [l for l in p.stderr.splitlines() if l.strip()]
            assert len(err) == 1 and path in err[0], (desc, p.stderr)
            yield err[0]
    finally:
        os.unlink(path)


@test
def bad_model_files_get_a_one_line_error():
    good = open(STORIES, 'rb').read()
    cases = {
        'truncated': (good[:len(good) // 2], 'past the end'),
        'truncated header': (good[:100], 'cannot fit'),
        'truncated in metadata': (good[:3000], 'tokenizer.ggml.tokens'),
        'wrong magic': (b'GGUX' + good[4:], 'bad magic'),
        'huge tensor count': (good[:8] + struct.pack('<Q', 1 << 62) + good[16:], 'tensor count'),
        'huge metadata count': (good[:16] + struct.pack('<Q', 1 << 62) + good[24:], 'metadata count'),
        'empty': (b'', 'too small'),
    }
    for desc, (data, want) in cases.items():
        for msg in corrupt(data, desc):
            assert want in msg, (desc, msg)


@test
def unsupported_tensor_type_is_refused_naming_the_tensor():
    import re
    good = bytearray(open(STORIES, 'rb').read())
    name = b'blk.0.attn_q.weight'
    i = good.index(struct.pack('<Q', len(name)) + name) + 8 + len(name)
    nd = struct.unpack_from('<I', good, i)[0]
    struct.pack_into('<I', good, i + 4 + 8 * nd, 3)  # q4_1: a real type we do not compute with
    # q4_1 blocks are 20 bytes per 32 values; f32 is 4 per value: data fits, type is refused
    msgs = list(corrupt(bytes(good), 'q4_1', cmds=('run',)))
    assert 'blk.0.attn_q.weight' in msgs[0] and 'q4_1' in msgs[0], msgs


@test
def missing_model_and_bad_options_are_usage_errors():
    p = lmx('run', '-m', '/nonexistent.gguf', '-p', 'x', check=False)
    assert p.returncode == 1 and 'No such file' in p.stderr
    p = lmx('run', '-m', STORIES, '-p', 'x', '-n', 'abc', check=False)
    assert p.returncode == 2
    p = lmx('run', '-p', 'x', check=False)
    assert p.returncode == 2


if __name__ == '__main__':
    main()
