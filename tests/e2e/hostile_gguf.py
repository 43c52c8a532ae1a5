#!/usr/bin/env python3
"""Writes 70 hostile GGUF files into a directory: what an attacker (or a broken
converter) hands the loader. Each starts from a tiny valid llama model made by
../shared/tools/synth_gguf.py and breaks one thing: truncations, absurd counts
and dimensions, bad types and offsets, empty or short vocabularies, zero heads,
NaN epsilon, hostile chat templates.

Used as seeds for the GGUF fuzzer (scripts/fuzz-corpus.sh) and by
tests/e2e/test_hostile_gguf.py, which loads each through the admin API under
the sanitizer build. Standard library only; deterministic.

    hostile_gguf.py OUT_DIR        # prints the number of files written
"""
import os, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get('LMX_SHARED') or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), 'shared')

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SIZES = {U8: 1, I8: 1, U16: 2, I16: 2, U32: 4, I32: 4, F32: 4, BOOL: 1, U64: 8, I64: 8, F64: 8}
FMT = {U8: '<B', I8: '<b', U16: '<H', I16: '<h', U32: '<I', I32: '<i', F32: '<f', BOOL: '<B',
       U64: '<Q', I64: '<q', F64: '<d'}


class Model:
    """A parsed GGUF: kvs [(key, type, value)], tensors [(name, dims, type, offset)], data."""

    def __init__(self, raw):
        assert raw[:4] == b'GGUF'
        self.version, n_t, n_kv = struct.unpack_from('<IQQ', raw, 4)
        o = 24
        self.kvs = []
        for _ in range(n_kv):
            (kl,) = struct.unpack_from('<Q', raw, o)
            key = raw[o + 8:o + 8 + kl].decode()
            o += 8 + kl
            (t,) = struct.unpack_from('<I', raw, o)
            v, o = self._val(raw, t, o + 4)
            self.kvs.append((key, t, v))
        self.tensors = []
        for _ in range(n_t):
            (nl,) = struct.unpack_from('<Q', raw, o)
            name = raw[o + 8:o + 8 + nl].decode()
            o += 8 + nl
            (nd,) = struct.unpack_from('<I', raw, o)
            dims = list(struct.unpack_from('<%dQ' % nd, raw, o + 4))
            o += 4 + 8 * nd
            tt, off = struct.unpack_from('<IQ', raw, o)
            o += 12
            self.tensors.append([name, dims, tt, off])
        self.align = self.get('general.alignment') or 32
        start = (o + self.align - 1) // self.align * self.align
        self.data = raw[start:]

    def _val(self, raw, t, o):
        if t in SIZES:
            return struct.unpack_from(FMT[t], raw, o)[0], o + SIZES[t]
        if t == STR:
            (n,) = struct.unpack_from('<Q', raw, o)
            return raw[o + 8:o + 8 + n], o + 8 + n
        at, n = struct.unpack_from('<IQ', raw, o)
        o += 12
        out = []
        for _ in range(n):
            v, o = self._val(raw, at, o)
            out.append(v)
        return (at, out), o

    def get(self, key):
        for k, t, v in self.kvs:
            if k == key:
                return v
        return None

    def set(self, key, t, v):
        self.kvs = [kv for kv in self.kvs if kv[0] != key] + [(key, t, v)]
        return self

    def drop(self, key):
        self.kvs = [kv for kv in self.kvs if kv[0] != key]
        return self

    def tensor(self, name):
        return next(t for t in self.tensors if t[0] == name)


def enc_val(t, v):
    if t in SIZES:
        return struct.pack(FMT[t], v)
    if t == STR:
        b = v if isinstance(v, bytes) else v.encode()
        return struct.pack('<Q', len(b)) + b
    at, items = v
    return struct.pack('<IQ', at, len(items)) + b''.join(enc_val(at, x) for x in items)


def serialize(m, n_kv=None, n_t=None, version=None, magic=b'GGUF'):
    kv = b''.join(struct.pack('<Q', len(k)) + k.encode() + struct.pack('<I', t) + enc_val(t, v)
                  for k, t, v in m.kvs)
    ti = b''.join(struct.pack('<Q', len(n)) + n.encode() + struct.pack('<I', len(d)) +
                  struct.pack('<%dQ' % len(d), *d) + struct.pack('<IQ', tt, off)
                  for n, d, tt, off in m.tensors)
    head = magic + struct.pack('<IQQ', m.version if version is None else version,
                               len(m.tensors) if n_t is None else n_t,
                               len(m.kvs) if n_kv is None else n_kv) + kv + ti
    align = m.align if isinstance(m.align, int) and 0 < m.align < 1 << 16 else 32
    return head + b'\0' * ((-len(head)) % align) + m.data


def base_model():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, 'base.gguf')
        subprocess.run([sys.executable, os.path.join(SHARED, 'tools', 'synth_gguf.py'), p, '--arch', 'llama',
                        '--type', 'f32', '--n-embd', '32', '--n-layer', '1', '--n-head', '2',
                        '--n-head-kv', '1', '--n-ff', '64', '--seed', '1'],
                       check=True, stdout=subprocess.DEVNULL)
        return open(p, 'rb').read()


def cases(raw):
    """(name, bytes) of every hostile file."""
    B = lambda: Model(raw)
    out = []

    def add(name, data):
        out.append((name, data))

    # ---- truncations (9)
    m = B()
    kv_end = len(serialize(m)) - len(m.data)  # header+kv+infos+pad
    for i, n in enumerate([0, 3, 8, 23, 40, 200, kv_end - 300, kv_end - 1, len(raw) - 1]):
        add(f'trunc-{i:02d}-{n}', raw[:max(0, n)])
    # ---- header (7)
    add('hdr-bad-magic', serialize(B(), magic=b'GGUX'))
    add('hdr-version-0', serialize(B(), version=0))
    add('hdr-version-1', serialize(B(), version=1))
    add('hdr-version-huge', serialize(B(), version=0xffffffff))
    add('hdr-n-tensors-huge', serialize(B(), n_t=1 << 62))
    add('hdr-n-kv-huge', serialize(B(), n_kv=1 << 40))
    add('hdr-n-kv-one-too-many', serialize(B(), n_kv=len(B().kvs) + 1))
    # ---- metadata values (9)
    m = B()
    d = serialize(m)
    k = b'general.architecture'
    i = d.index(k) - 8
    add('kv-key-length-huge', d[:i] + struct.pack('<Q', 1 << 60) + d[i + 8:])
    i = d.index(b'synthetic-llama') - 8
    add('kv-string-length-huge', d[:i] + struct.pack('<Q', (1 << 63) + 5) + d[i + 8:])
    i = d.index(b'general.name') + len(b'general.name')
    add('kv-bad-value-type', d[:i] + struct.pack('<I', 13) + d[i + 4:])
    t = d.index(b'tokenizer.ggml.tokens') + len(b'tokenizer.ggml.tokens') + 4
    add('kv-array-count-huge', d[:t] + struct.pack('<IQ', STR, 1 << 60) + d[t + 12:])
    add('kv-array-bad-elem-type', d[:t] + struct.pack('<I', 99) + d[t + 4:])
    add('kv-nested-arrays', serialize(B().set('x.nested', ARR, (ARR, [(ARR, [(U8, [1])])] * 3))))
    add('kv-empty-key', serialize(B().set('', U32, 7)))
    add('kv-alignment-zero', serialize(B().set('general.alignment', U32, 0)))
    add('kv-alignment-odd', serialize(B().set('general.alignment', U32, 3)))
    # ---- tensor table (13)
    def tens(name, fn):
        m = B()
        fn(m)
        add(name, serialize(m))
    tens('t-ndims-0', lambda m: m.tensor('output_norm.weight').__setitem__(1, []))
    tens('t-ndims-5', lambda m: m.tensor('output_norm.weight').__setitem__(1, [32, 1, 1, 1, 1]))
    tens('t-dim-zero', lambda m: m.tensor('blk.0.attn_q.weight').__setitem__(1, [32, 0]))
    tens('t-dim-huge', lambda m: m.tensor('blk.0.attn_q.weight').__setitem__(1, [1 << 62, 32]))
    tens('t-dims-overflow', lambda m: m.tensor('blk.0.attn_q.weight').__setitem__(1, [1 << 32, 1 << 33]))
    tens('t-type-99', lambda m: m.tensor('blk.0.attn_k.weight').__setitem__(2, 99))
    tens('t-type-q4_0-odd-row', lambda m: m.tensor('output_norm.weight').__setitem__(2, 2))
    tens('t-offset-unaligned', lambda m: m.tensor('output.weight').__setitem__(3, m.tensor('output.weight')[3] + 1))
    tens('t-offset-past-end', lambda m: m.tensor('output.weight').__setitem__(3, 1 << 40))
    tens('t-offset-wraps', lambda m: m.tensor('output.weight').__setitem__(3, (1 << 64) - 32))
    tens('t-duplicate-name', lambda m: m.tensors.append(list(m.tensor('output_norm.weight'))))
    tens('t-missing-output-norm', lambda m: m.tensors.remove(m.tensor('output_norm.weight')))
    tens('t-wrong-shape', lambda m: m.tensor('blk.0.attn_q.weight').__setitem__(1, [16, 64]))
    # ---- hyper-parameters (12)
    hp = [('hp-head-count-0', 'llama.attention.head_count', U32, 0),
          ('hp-head-count-kv-0', 'llama.attention.head_count_kv', U32, 0),
          ('hp-head-count-kv-gt-heads', 'llama.attention.head_count_kv', U32, 4),
          ('hp-head-count-not-dividing', 'llama.attention.head_count', U32, 3),
          ('hp-embd-0', 'llama.embedding_length', U32, 0),
          ('hp-layers-0', 'llama.block_count', U32, 0),
          ('hp-layers-huge', 'llama.block_count', U32, 1000000),
          ('hp-ctx-0', 'llama.context_length', U32, 0),
          ('hp-ctx-huge', 'llama.context_length', U64, 1 << 40),
          ('hp-eps-nan', 'llama.attention.layer_norm_rms_epsilon', F32, float('nan')),
          ('hp-rope-base-nan', 'llama.rope.freq_base', F32, float('nan')),
          ('hp-rope-dim-huge', 'llama.rope.dimension_count', U32, 1 << 30)]
    for name, key, t, v in hp:
        add(name, serialize(B().set(key, t, v)))
    # ---- architecture (2)
    add('arch-unknown', serialize(B().set('general.architecture', STR, 'llamaX')))
    add('arch-missing', serialize(B().drop('general.architecture')))
    # ---- vocabularies (9)
    n_vocab = len(B().get('tokenizer.ggml.tokens')[1])
    add('voc-empty', serialize(B().set('tokenizer.ggml.tokens', ARR, (STR, []))))
    add('voc-all-empty-strings', serialize(B().set('tokenizer.ggml.tokens', ARR, (STR, [b''] * n_vocab))))
    add('voc-one-token', serialize(B().set('tokenizer.ggml.tokens', ARR, (STR, [b'a']))))
    add('voc-scores-short', serialize(B().set('tokenizer.ggml.scores', ARR, (F32, [0.0] * 3))))
    add('voc-tokens-not-strings', serialize(B().set('tokenizer.ggml.tokens', ARR, (I32, list(range(n_vocab))))))
    add('voc-bos-out-of-range', serialize(B().set('tokenizer.ggml.bos_token_id', U32, 1 << 30)))
    add('voc-eos-negative', serialize(B().set('tokenizer.ggml.eos_token_id', I32, -5)))
    add('voc-model-unknown', serialize(B().set('tokenizer.ggml.model', STR, 'nonsense')))
    add('voc-bpe-without-merges', serialize(B().set('tokenizer.ggml.model', STR, 'gpt2')))
    # ---- chat templates (9): each must cost bounded time and memory
    tpl = [('tpl-nested-range', '{% for a in range(100000) %}{% for b in range(100000) %}'
                                '{{ a }}{% endfor %}{% endfor %}'),
           ('tpl-range-huge', '{% for a in range(10000000000) %}x{% endfor %}'),
           ('tpl-string-times-huge', '{{ "x" * 1000000000 }}'),
           ('tpl-recursive-macro', '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'),
           ('tpl-syntax-error', '{% for m in messages %}{{ m.content '),
           ('tpl-undefined-call', '{{ nothing_here(1) }}'),
           ('tpl-raise', '{{ raise_exception("hostile template") }}'),
           ('tpl-deep-nesting', '{{ ' + '(' * 5000 + '1' + ')' * 5000 + ' }}'),
           ('tpl-nul-byte', '{{ messages[0].content }}\x00{% for x in range(3) %}{% endfor %}')]
    for name, t in tpl:
        add(name, serialize(B().set('tokenizer.chat_template', STR, t)))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cs = cases(base_model())
    for name, data in cs:
        with open(os.path.join(out, f'hostile-{name}.gguf'), 'wb') as f:
            f.write(data)
    print(len(cs))


if __name__ == '__main__':
    main()
