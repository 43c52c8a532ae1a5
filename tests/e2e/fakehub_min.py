"""A minimal stand-in for the Hugging Face Hub on 127.0.0.1, serving one GGUF
repository (stories260K's bytes as org/stories-GGUF, file stories-Q8_0.gguf)
through the Hub's public endpoints: the model info and tree listings (with the
LFS sha256 and size) and /resolve/ downloads with Range. Used by the Ollama and
LM Studio pull/download tests until the downloader's own fake hub
(tests/e2e/fakehub.py) is merged; then those tests may switch to it."""
import hashlib, http.server, json, os, re, threading

from harness import STORIES

REPO = 'lmx-test/stories-GGUF'
QUANT = 'Q8_0'
FILE = f'stories-{QUANT}.gguf'


class FakeHub:
    def __init__(self):
        data = open(STORIES, 'rb').read()
        sha = hashlib.sha256(data).hexdigest()
        files = {FILE: data}
        commit = 'c0ffee' * 6 + 'c0ff'

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send_json(self, obj, status=200):
                b = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head=False):
                path = self.path.split('?')[0]
                m = re.match(r'^/api/models/(.+?)(?:/tree/([^/]+)(?:/.*)?|/revision/([^/]+))?$', path)
                if m:
                    if m.group(1) != REPO:
                        return self.send_json({'error': 'Repository not found'}, 404)
                    if m.group(2):
                        return self.send_json([{'type': 'file', 'path': FILE, 'size': len(data), 'oid': sha[:40],
                                                'lfs': {'oid': sha, 'size': len(data), 'pointerSize': 130}}])
                    return self.send_json({'id': REPO, 'sha': commit,
                                           'siblings': [{'rfilename': FILE, 'size': len(data),
                                                         'lfs': {'sha256': sha, 'size': len(data)}}]})
                m = re.match(r'^/(.+?)/resolve/([^/]+)/(.+)$', path)
                if not m or m.group(1) != REPO or m.group(3) not in files:
                    return self.send_json({'error': 'Entry not found'}, 404)
                body = files[m.group(3)]
                start, end = 0, len(body) - 1
                rng = self.headers.get('Range')
                status = 200
                if rng:
                    rm = re.match(r'bytes=(\d+)-(\d*)', rng)
                    start = int(rm.group(1))
                    end = int(rm.group(2)) if rm.group(2) else end
                    status = 206
                self.send_response(status)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(end - start + 1))
                self.send_header('ETag', f'"{sha}"')
                self.send_header('X-Linked-Etag', f'"{sha}"')
                self.send_header('X-Linked-Size', str(len(body)))
                self.send_header('X-Repo-Commit', commit)
                if status == 206:
                    self.send_header('Content-Range', f'bytes {start}-{end}/{len(body)}')
                self.end_headers()
                if not head:
                    self.wfile.write(body[start:end + 1])

        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.url = f'http://127.0.0.1:{self.srv.server_address[1]}'
        self.pull_name = f'hf.co/{REPO}:{QUANT}'
        self.repo, self.quant, self.file, self.sha256 = REPO, QUANT, FILE, sha
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
