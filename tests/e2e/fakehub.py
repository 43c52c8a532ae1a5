"""A fake Hugging Face hub on 127.0.0.1 for the download tests.

It speaks the parts of the Hub's protocol the downloader uses:
  GET  /api/models/{org}/{name}/tree/{rev}?recursive=true   the file listing
       (paged three entries at a time by a Link: <...>; rel="next" header)
  HEAD|GET /{org}/{name}/resolve/{rev}/{path}   302 to /cdn/... with X-Linked-Etag
       (the LFS sha256, quoted) and X-Linked-Size, as the Hub does for LFS files
  GET  /cdn/{org}/{name}/{path}   the bytes, honouring Range, optionally throttled
Unknown repos get 404 with X-Error-Code: RepoNotFound; a gated repo wants
'Authorization: Bearer <token>'. Every request is recorded for assertions.

Run alone (python3 fakehub.py) it serves the test repos and prints its URL."""
import hashlib, http.server, json, os, re, struct, threading, time, urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get('LMX_SHARED') or os.path.join(os.path.dirname(ROOT), 'shared')


def gguf_split(data, n_first):
    """Splits a GGUF v3 file into two valid shards the way gguf-split does: shard 1
    keeps every key plus split.{no,count,tensors.count} and the first n_first tensors,
    shard 2 the split keys and the rest. Returns (shard1, shard2)."""
    assert data[:4] == b'GGUF'
    ver, n_t, n_kv = struct.unpack_from('<IQQ', data, 4)
    off = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(t, o):
        if t in sizes:
            return o + sizes[t]
        if t == 8:
            return o + 8 + struct.unpack_from('<Q', data, o)[0]
        at, n = struct.unpack_from('<IQ', data, o)
        o += 12
        for _ in range(n):
            o = skip(at, o)
        return o

    kvs, align = [], 32
    for _ in range(n_kv):
        s = off
        (kl,) = struct.unpack_from('<Q', data, off)
        key = data[off + 8:off + 8 + kl].decode()
        off += 8 + kl
        (t,) = struct.unpack_from('<I', data, off)
        off = skip(t, off + 4)
        if key == 'general.alignment':
            align = struct.unpack_from('<I', data, off - 4)[0]
        kvs.append(data[s:off])
    tensors = []
    for _ in range(n_t):
        s = off
        (nl,) = struct.unpack_from('<Q', data, off)
        off += 8 + nl
        (nd,) = struct.unpack_from('<I', data, off)
        off += 4 + 8 * nd + 4
        (toff,) = struct.unpack_from('<Q', data, off)
        tensors.append((data[s:off], toff))
        off += 8
    data_start = (off + align - 1) // align * align
    ends = sorted(t[1] for t in tensors) + [len(data) - data_start]
    size_of = {t[1]: ends[ends.index(t[1]) + 1] - t[1] for t in tensors}

    def kv(key, t, fmt, v):
        k = key.encode()
        return struct.pack('<Q', len(k)) + k + struct.pack('<I', t) + struct.pack(fmt, v)

    def shard(no, keys, part):
        keys = keys + [kv('split.no', 2, '<H', no), kv('split.count', 2, '<H', 2),
                       kv('split.tensors.count', 5, '<i', n_t)]
        infos, blob = b'', b''
        for head, toff in part:
            pad = (-len(blob)) % align
            blob += b'\0' * pad
            infos += head + struct.pack('<Q', len(blob))
            blob += data[data_start + toff:data_start + toff + size_of[toff]]
        h = b'GGUF' + struct.pack('<IQQ', ver, len(part), len(keys)) + b''.join(keys) + infos
        return h + b'\0' * ((-len(h)) % align) + blob

    return shard(0, kvs, tensors[:n_first]), shard(1, [], tensors[n_first:])


class FakeHub:
    def __init__(self):
        self.repos = {}  # repo -> {'gated': token|None, 'files': {path: entry}}
        self.requests = []  # (method, path, headers)
        self.rate = 0  # CDN bytes/s; 0: as fast as possible
        self.fail_cdn = 0  # the next N CDN requests answer 403 (an expired link)
        self.renamed = {}  # old repo name -> new: API and resolve URLs answer 307 to the new name
        self.cdn_base = ''  # where resolve redirects: '' this server, or e.g. http://localhost:PORT
        self.lock = threading.Lock()
        hub = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *a):
                pass

            def do_HEAD(self):
                hub._handle(self, head=True)

            def do_GET(self):
                hub._handle(self, head=False)

        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.srv.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.srv.server_address[1]}'
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def add(self, repo, path, data, sha=None, size=None, lfs=True, gated=None):
        """Serves data as repo's path; sha/size override what the hub announces."""
        r = self.repos.setdefault(repo, {'gated': gated, 'files': {}})
        if gated:
            r['gated'] = gated
        r['files'][path] = {'data': data, 'lfs': lfs,
                            'sha': sha or hashlib.sha256(data).hexdigest(),
                            'size': len(data) if size is None else size}

    @staticmethod
    def commit(repo):
        """The commit 'main' points at in a repo (fixed)."""
        return hashlib.sha1(repo.encode()).hexdigest()

    def seen(self, method=None, prefix=''):
        with self.lock:
            return [r for r in self.requests if (method is None or r[0] == method) and r[1].startswith(prefix)]

    # ---- protocol ----

    def _send(self, h, code, body=b'', headers=None, head=False):
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header('Content-Length', str(len(body)))
        h.end_headers()
        if not head and body:
            h.wfile.write(body)

    def _json(self, h, code, obj, headers=None, head=False):
        self._send(h, code, json.dumps(obj).encode(), {'Content-Type': 'application/json', **(headers or {})}, head)

    def _repo(self, h, org, name, head):
        repo = f'{org}/{name}'
        r = self.repos.get(repo)
        if not r:
            self._json(h, 404, {'error': 'Repository not found'}, {'X-Error-Code': 'RepoNotFound',
                       'X-Error-Message': 'Repository not found'}, head)
            return None
        if r['gated'] and h.headers.get('Authorization') != f"Bearer {r['gated']}":
            self._json(h, 401, {'error': f'Access to model {repo} is restricted.'},
                       {'X-Error-Code': 'GatedRepo', 'X-Error-Message': 'Access restricted'}, head)
            return None
        return r

    def _handle(self, h, head):
        u = urllib.parse.urlsplit(h.path)
        path = urllib.parse.unquote(u.path)
        with self.lock:
            self.requests.append((h.command, path, dict(h.headers)))
        m = re.fullmatch(r'(/api/models/|/)([^/]+/[^/]+)(/(?:tree|resolve)/.*)', path)
        if m and m.group(2) in self.renamed:
            loc = m.group(1) + self.renamed[m.group(2)] + urllib.parse.quote(m.group(3)) + ('?' + u.query if u.query else '')
            return self._send(h, 307, b'', {'Location': loc}, head)
        m = re.fullmatch(r'/api/models/([^/]+)/([^/]+)/tree/([^/]+)', path)
        if m:
            r = self._repo(h, m.group(1), m.group(2), head)
            if not r:
                return
            if m.group(3) not in ('main', self.commit(f'{m.group(1)}/{m.group(2)}')):
                return self._json(h, 404, {'error': 'Revision not found'}, {'X-Error-Code': 'RevisionNotFound'}, head)
            entries = [{'type': 'directory', 'oid': '0' * 40, 'size': 0, 'path': 'extra'}]
            for p, f in sorted(r['files'].items()):
                e = {'type': 'file', 'oid': hashlib.sha1(f['data']).hexdigest(), 'size': f['size'], 'path': p}
                if f['lfs']:
                    e['lfs'] = {'oid': f['sha'], 'size': f['size'], 'pointerSize': 134}
                entries.append(e)
            q = urllib.parse.parse_qs(u.query)
            start = int(q.get('cursor', ['0'])[0])
            page, headers = entries[start:start + 3], {}
            if start + 3 < len(entries):
                nxt = f'{self.url}/api/models/{m.group(1)}/{m.group(2)}/tree/main?recursive=true&cursor={start + 3}'
                headers['Link'] = f'<{nxt}>; rel="next"'
            return self._json(h, 200, page, headers, head)
        m = re.fullmatch(r'/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)', path)
        if m:
            r = self._repo(h, m.group(1), m.group(2), head)
            if not r:
                return
            commit = self.commit(f'{m.group(1)}/{m.group(2)}')
            if m.group(3) not in ('main', commit):
                return self._json(h, 404, {'error': 'Revision not found'}, {'X-Error-Code': 'RevisionNotFound'}, head)
            f = r['files'].get(m.group(4))
            if not f:
                return self._json(h, 404, {'error': 'Entry not found'}, {'X-Error-Code': 'EntryNotFound'}, head)
            if not f['lfs']:
                return self._send(h, 200, f['data'], {'ETag': '"%s"' % hashlib.sha1(f['data']).hexdigest(),
                                                      'X-Repo-Commit': commit}, head)
            loc = f'{self.cdn_base}/cdn/{m.group(1)}/{m.group(2)}/{urllib.parse.quote(m.group(4))}?expires={int(time.time()) + 3600}'
            return self._send(h, 302, b'', {'Location': loc, 'X-Linked-Etag': '"%s"' % f['sha'], 'X-Repo-Commit': commit,
                                            'X-Linked-Size': str(f['size']), 'ETag': '"%s"' % f['sha'][:40]}, head)
        m = re.fullmatch(r'/cdn/([^/]+)/([^/]+)/(.+)', path)
        if m and f'{m.group(1)}/{m.group(2)}' in self.repos:
            f = self.repos[f'{m.group(1)}/{m.group(2)}']['files'].get(m.group(3))
            if f:
                return self._cdn(h, f['data'], head)
        self._json(h, 404, {'error': 'not found'}, None, head)

    def _cdn(self, h, data, head):
        with self.lock:
            fail, self.fail_cdn = self.fail_cdn > 0, max(0, self.fail_cdn - 1)
        if fail:
            return self._send(h, 403, b'<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
                              {'Content-Type': 'application/xml'}, head)
        rng = h.headers.get('Range')
        start, code, headers = 0, 200, {'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream'}
        if rng:
            m = re.fullmatch(r'bytes=(\d+)-', rng.strip())
            start = int(m.group(1)) if m else 0
            if start >= len(data):
                return self._send(h, 416, b'', {'Content-Range': f'bytes */{len(data)}'}, head)
            code = 206
            headers['Content-Range'] = f'bytes {start}-{len(data) - 1}/{len(data)}'
        body = data[start:]
        h.send_response(code)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header('Content-Length', str(len(body)))
        h.end_headers()
        if head:
            return
        chunk = 16384
        try:
            for i in range(0, len(body), chunk):
                h.wfile.write(body[i:i + chunk])
                if self.rate:
                    h.wfile.flush()
                    time.sleep(chunk / self.rate)
        except (BrokenPipeError, ConnectionResetError):
            pass


def standard_hub():
    """The hub the tests use: stories260K, a synthetic llama (whole and split in two),
    a file whose announced sha256 is wrong, one announcing a huge size, a gated repo."""
    hub = FakeHub()
    stories = open(os.path.join(SHARED, 'models', 'stories260K.gguf'), 'rb').read()
    synth = open(os.path.join(SHARED, 'models', 'synth', 'llama-q8_0.gguf'), 'rb').read()
    hub.add('lmx-test/stories260K-GGUF', 'stories260K-F32.gguf', stories)
    hub.add('lmx-test/stories260K-GGUF', 'README.md', b'# stories260K\n', lfs=False)
    hub.add('lmx-test/synth-llama-GGUF', 'synth-llama-Q8_0.gguf', synth)
    s1, s2 = gguf_split(synth, 4)
    hub.add('lmx-test/synth-llama-GGUF', 'split/synth-llama-Q4_0-00001-of-00002.gguf', s1)
    hub.add('lmx-test/synth-llama-GGUF', 'split/synth-llama-Q4_0-00002-of-00002.gguf', s2)
    hub.add('lmx-test/synth-llama-GGUF', 'mmproj-synth-Q8_0.gguf', b'not a projector')
    hub.add('lmx-test/broken-GGUF', 'broken-Q8_0.gguf', stories[:300000],
            sha=hashlib.sha256(b'something else').hexdigest())
    hub.add('lmx-test/huge-GGUF', 'huge-Q8_0.gguf', b'x' * 1000, size=1 << 60)
    hub.add('lmx-test/gated-GGUF', 'gated-Q8_0.gguf', stories, gated='hf_secret_token')
    hub.renamed['lmx-test/old-stories-GGUF'] = 'lmx-test/stories260K-GGUF'
    return hub


def single_model_hub():
    """One repository (stories260K's bytes as lmx-test/stories-GGUF, file
    stories-Q8_0.gguf), for the Ollama pull and LM Studio download tests;
    repo, quant, file, sha256 and Ollama's pull_name are attributes."""
    hub = FakeHub()
    data = open(os.path.join(SHARED, 'models', 'stories260K.gguf'), 'rb').read()
    hub.repo, hub.quant = 'lmx-test/stories-GGUF', 'Q8_0'
    hub.file = f'stories-{hub.quant}.gguf'
    hub.sha256 = hashlib.sha256(data).hexdigest()
    hub.pull_name = f'hf.co/{hub.repo}:{hub.quant}'
    hub.add(hub.repo, hub.file, data)
    return hub


if __name__ == '__main__':
    h = standard_hub()
    print(h.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        h.close()
