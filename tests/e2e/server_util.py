"""Starting `lmx serve` for the end-to-end tests and talking to it over plain HTTP."""
import http.client, json, os, signal, socket, subprocess, time

from harness import LMX, STORIES, admin_headers

MODEL = 'stories260K'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args, model=STORIES, env=None, binary=None):
        self.port = free_port()
        cmd = [binary or LMX, 'serve', '--port', str(self.port)]
        if model:
            cmd += ['-m', model]
        cmd += [str(a) for a in args]
        self.log_path = f'/tmp/lmx-serve-{self.port}.log'
        self.log = open(self.log_path, 'w+')
        self.t0 = time.time()
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        # a model loads before the port opens: up to a minute on a loaded machine
        while time.time() - self.t0 < 60:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.2):
                    break
            except OSError:
                if self.p.poll() is not None:
                    raise AssertionError(f'lmx serve exited {self.p.returncode}: {self.logs()}')
                time.sleep(0.02)
        self.startup_s = time.time() - self.t0

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def conn(self, timeout=120):
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None, timeout=120):
        c = self.conn(timeout)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        # the admin token too: it only matters on admin routes (an explicit header wins)
        h = {'Content-Type': 'application/json', **admin_headers(), **(headers or {})}
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode('utf-8', 'replace')
        c.close()
        try:
            j = json.loads(text)
        except ValueError:
            j = None
        return r.status, j, r, text

    def post(self, path, body, **kw):
        return self.request('POST', path, body, **kw)

    def chat(self, **body):
        body.setdefault('model', MODEL)
        body.setdefault('messages', [{'role': 'user', 'content': 'Once upon a time'}])
        return self.post('/v1/chat/completions', body)

    def stream(self, path, body, timeout=120):
        """Returns (events, comments, raw text) of a streamed response (waits for the end)."""
        c = self.conn(timeout)
        c.request('POST', path, body=json.dumps({**body, 'stream': True}),
                  headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        assert r.getheader('Content-Type').startswith('text/event-stream')
        raw = r.read().decode()
        c.close()
        return parse_sse(raw) + (raw,)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        finally:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()


def parse_sse(raw):
    events, comments = [], 0
    assert raw.endswith('\n\n'), raw[-200:]
    for block in raw.split('\n\n')[:-1]:
        if block.startswith(':'):
            comments += 1
            continue
        assert block.startswith('data: ') and '\n' not in block, block
        d = block[6:]
        events.append(d if d == '[DONE]' else json.loads(d))
    return events, comments


def named_sse(raw):
    """[(event name, data)] of an SSE body of named events whose data's type is
    the event name (Responses, Anthropic Messages); checks the framing."""
    out = []
    assert raw.endswith('\n\n'), raw[-300:]
    for block in raw.split('\n\n')[:-1]:
        if block.startswith(':'):
            continue
        lines = block.split('\n')
        assert len(lines) == 2 and lines[0].startswith('event: ') and lines[1].startswith('data: '), block
        d = json.loads(lines[1][6:])
        assert d['type'] == lines[0][7:], block
        out.append((lines[0][7:], d))
    return out


def post_named_stream(s, path, body):
    """POSTs body to path on server s; (named_sse events, raw body) of its
    200 text/event-stream answer."""
    c = s.conn()
    c.request('POST', path, body=json.dumps(body), headers={'Content-Type': 'application/json'})
    r = c.getresponse()
    raw = r.read().decode()
    c.close()
    assert r.status == 200, (r.status, raw)
    assert r.getheader('Content-Type').startswith('text/event-stream')
    return named_sse(raw), raw


def stream_text(events, n=1):
    texts, finish = [''] * n, [None] * n
    for e in events:
        if e == '[DONE]' or 'error' in e:
            continue
        for ch in e['choices']:
            d = ch.get('delta', ch)
            texts[ch['index']] += d.get('content') or d.get('text') or ''
            if ch.get('finish_reason'):
                finish[ch['index']] = ch['finish_reason']
    return texts, finish


def gguf_with_template(src, dst, template):
    """Copies a GGUF v3 file adding (or replacing) tokenizer.chat_template."""
    import struct
    d = open(src, 'rb').read()
    assert d[:4] == b'GGUF'
    ver, n_t, n_kv = struct.unpack_from('<IQQ', d, 4)
    off = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_val(t, o):
        if t in sizes:
            return o + sizes[t]
        if t == 8:
            (n,) = struct.unpack_from('<Q', d, o)
            return o + 8 + n
        assert t == 9
        at, n = struct.unpack_from('<IQ', d, o)
        o += 12
        for _ in range(n):
            o = skip_val(at, o)
        return o

    kvs = []
    align = 32
    for _ in range(n_kv):
        start = off
        (kl,) = struct.unpack_from('<Q', d, off)
        key = d[off + 8:off + 8 + kl].decode()
        off += 8 + kl
        (t,) = struct.unpack_from('<I', d, off)
        off = skip_val(t, off + 4)
        if key == 'general.alignment':
            align = struct.unpack_from('<I', d, off - 4)[0]
        if key != 'tokenizer.chat_template':
            kvs.append(d[start:off])
    info_start = off
    for _ in range(n_t):
        (nl,) = struct.unpack_from('<Q', d, off)
        off += 8 + nl
        (nd,) = struct.unpack_from('<I', d, off)
        off += 4 + 8 * nd + 4 + 8
    infos = d[info_start:off]
    data_start = (off + align - 1) // align * align
    k = b'tokenizer.chat_template'
    v = template.encode()
    kvs.append(struct.pack('<Q', len(k)) + k + struct.pack('<IQ', 8, len(v)) + v)
    head = b'GGUF' + struct.pack('<IQQ', ver, n_t, len(kvs)) + b''.join(kvs) + infos
    pad = (-len(head)) % align
    with open(dst, 'wb') as f:
        f.write(head + b'\0' * pad + d[data_start:])
