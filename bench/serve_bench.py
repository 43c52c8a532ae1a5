#!/usr/bin/env python3
"""Serving benchmark: `lmx serve` under 1, 4, 8 and 16 concurrent streaming
clients, a repeated 2k-token prefix, eight bots arriving together with one
shared system prompt (cold and warm), and the server's own overhead before the
first token. Figures only (no pass/fail); prints markdown tables.

  bench/serve_bench.py [--model bench/models/l1b-q4_0.gguf] [--tokens 64] [--threads N]
                       [--clients 1,4,8,16] [--skip-prefix] [--bots 8] [--bot-prefix-words 1300]

Per client: a distinct ~64-token prompt (no prefix sharing), greedy, streamed
/v1/completions with max_tokens --tokens. Aggregate tok/s = all completion
tokens / wall time of the round. TTFT = request sent → first text chunk.
Overhead = TTFT − (queue + prefill time the scheduler reports in the server's
JSON log line), for single-client requests."""
import argparse, http.client, json, os, random, socket, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


class Server:
    def __init__(self, model, threads, parallel):
        self.port = free_port()
        args = [os.path.join(ROOT, 'build', 'lmx'), 'serve', '-m', model, '--port', str(self.port),
                '--parallel', str(parallel), '--queue', '256']
        if threads:
            args += ['-t', str(threads)]
        self.log = []
        self.p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        for _ in range(600):
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=2)
                c.request('GET', '/health')
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        self.model = os.path.basename(model)[:-5]

    def _read(self):
        for line in self.p.stderr:
            try:
                self.log.append(json.loads(line))
            except ValueError:
                pass

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=60)


def stream(port, model, prompt, max_tokens):
    """Returns (ttft_s, total_s, completion_tokens)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=600)
    body = json.dumps({'model': model, 'prompt': prompt, 'max_tokens': max_tokens, 'temperature': 0,
                       'stream': True, 'stream_options': {'include_usage': True}})
    t0 = time.perf_counter()
    c.request('POST', '/v1/completions', body, {'Content-Type': 'application/json'})
    r = c.getresponse()
    assert r.status == 200, r.read()
    ttft, usage = None, None
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith('data: ') or line == 'data: [DONE]':
            continue
        ev = json.loads(line[6:])
        if ev.get('choices') and ttft is None:
            ttft = time.perf_counter() - t0
        if ev.get('usage'):
            usage = ev['usage']
    return ttft, time.perf_counter() - t0, usage['completion_tokens']


def words(rng, n):
    vocab = ['river', 'stone', 'light', 'quiet', 'market', 'engine', 'garden', 'paper', 'window',
             'silver', 'winter', 'music', 'number', 'forest', 'letter', 'island', 'circle']
    return ' '.join(rng.choice(vocab) for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=os.path.join(ROOT, 'bench', 'models', 'l1b-q4_0.gguf'))
    ap.add_argument('--tokens', type=int, default=128)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--clients', default='1,4,8,16')
    ap.add_argument('--prompt-words', type=int, default=8, help='words per client prompt (~tokens)')
    ap.add_argument('--skip-prefix', action='store_true')
    ap.add_argument('--bots', type=int, default=8, help='bots sharing one prefix (0: skip)')
    ap.add_argument('--bot-prefix-words', type=int, default=1300, help='~tokens of their shared prefix')
    a = ap.parse_args()
    srv = Server(a.model, a.threads, 8)
    rng = random.Random(1)
    try:
        stream(srv.port, srv.model, 'warm up', 4)
        print('| clients | aggregate decode tok/s | × one client | TTFT p50 (ms) | TTFT p95 (ms) |')
        print('|---|---|---|---|---|')
        base = None
        for n in map(int, a.clients.split(',')):
            res = [None] * n
            prompts = [words(rng, a.prompt_words) for _ in range(n)]
            def run(i):
                res[i] = stream(srv.port, srv.model, prompts[i], a.tokens)
            th = [threading.Thread(target=run, args=(i,)) for i in range(n)]
            t0 = time.perf_counter()
            for t in th: t.start()
            for t in th: t.join()
            wall = time.perf_counter() - t0
            tok = sum(r[2] for r in res)
            agg = tok / wall
            base = base or agg
            ttfts = [r[0] * 1e3 for r in res]
            print(f'| {n} | {agg:.1f} | {agg / base:.2f} | {pct(ttfts, .5):.0f} | {pct(ttfts, .95):.0f} |', flush=True)

        # a repeated 2k-token prefix: cold, then the same prefix with a new question
        if a.skip_prefix:
            prefix = None
        else:
            prefix = words(rng, 1900)
            cold = stream(srv.port, srv.model, prefix + ' first question', 8)[0]
            warm = [stream(srv.port, srv.model, prefix + f' question number {i}', 8)[0] for i in range(3)]
            print(f'\n2k-token prefix: cold TTFT {cold * 1e3:.0f} ms, repeated prefix TTFT '
                  f'{statistics.median(warm) * 1e3:.0f} ms ({100 * statistics.median(warm) / cold:.1f}% of cold)')

        # bots sharing a system prompt: one cold request with its own new prefix, then
        # --bots requests together with another new prefix (cold: computed once, the others
        # wait for its blocks), then the same again with new questions (warm)
        if a.bots:
            one = stream(srv.port, srv.model, words(rng, a.bot_prefix_words) + ' hello', 8)[0]
            shared = words(rng, a.bot_prefix_words)
            rounds = []
            for rnd in ('cold', 'warm'):
                res = [None] * a.bots
                def bot(i):
                    res[i] = stream(srv.port, srv.model, f'{shared} bot {i} {rnd} question', 8)
                th = [threading.Thread(target=bot, args=(i,)) for i in range(a.bots)]
                for t in th: t.start()
                for t in th: t.join()
                rounds.append(max(r[0] for r in res))
            print(f'\n{a.bots} bots sharing a ~{a.bot_prefix_words}-token prefix: one cold request TTFT '
                  f'{one * 1e3:.0f} ms; together cold, slowest TTFT {rounds[0] * 1e3:.0f} ms '
                  f'({rounds[0] / one:.2f}× one); warm, slowest {rounds[1] * 1e3:.0f} ms')

        # server overhead before the first token: the server's own time for a request
        # (its log's duration) minus queue and prefill, on one-token non-streamed requests;
        # and, for reference, what a streaming client sees (TTFT − queue − prefill)
        n0 = len(srv.log)
        own, seen = [], []
        for i in range(30):
            body = json.dumps({'model': srv.model, 'prompt': words(rng, 16), 'max_tokens': 1, 'temperature': 0})
            c = http.client.HTTPConnection('127.0.0.1', srv.port, timeout=600)
            c.request('POST', '/v1/completions', body, {'Content-Type': 'application/json'})
            c.getresponse().read()
            ttft, _, _ = stream(srv.port, srv.model, words(rng, 16), 2)
            time.sleep(0.05)
            entries = [e for e in srv.log[n0:] if e.get('path') == '/v1/completions']
            e1, e2 = entries[-2], entries[-1]
            own.append(e1['duration_us'] / 1e3 - e1.get('queue_ms', 0) - e1.get('prefill_ms', 0))
            seen.append(ttft * 1e3 - e2.get('queue_ms', 0) - e2.get('prefill_ms', 0))
        print(f'server overhead before the first token (request duration − queue − prefill, 30 requests): '
              f'p50 {pct(own, .5):.2f} ms, p95 {pct(own, .95):.2f} ms')
        print(f'as a streaming python client sees it (TTFT − queue − prefill): '
              f'p50 {pct(seen, .5):.2f} ms, p95 {pct(seen, .95):.2f} ms')
    finally:
        srv.stop()


if __name__ == '__main__':
    main()
