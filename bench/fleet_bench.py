#!/usr/bin/env python3
"""Fleet figures for bench/README.md (figures only, nothing passes or fails).

1. Fairness: 8 polite bots (one streamed chat at a time) alone and beside a greedy
   bot sending ten at a time, with and without a per-client in-flight cap;
   server-side time to first token (queue wait + prefill, from the request log).
2. Weights: two tenants at 3:1, both saturating --parallel 2; decode tokens in 12 s.
3. Latency target: 8 clients asking for long completions on --parallel 8, with
   and without --itl-target-ms (60% of the untargeted p95); the scheduler's
   decode-step p95 (inter-token latency), its batch cap, aggregate tok/s.
4. Latency target per model (--only itl-per-model): one daemon, one synthetic
   model big enough that a decode step costs more than the scheduling noise,
   loaded twice through the admin API: "targeted" with an itl_target_ms,
   "free" without (no global target). Rounds alternate between the two: 8
   streamed chats at once, the inter-token gaps the client sees (p95 over all
   streams) and the aggregate tok/s.

usage: python3 bench/fleet_bench.py [-r ROUNDS] [--only ...] [--target-ms MS]
       (127.0.0.1 only; ~1 min per round)"""
import argparse, http.client, json, os, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'e2e'))
from harness import SHARED, admin_headers  # noqa: E402
from server_util import Server  # noqa: E402
from test_fleet import SYNTH, p95, run_bots, sha, tenant_tokens, post  # noqa: E402


def fairness(cap):
    args = ['--parallel', 10, '--queue', 32, '-t', 1] + (['--client-max-inflight', 2] if cap else [])
    with Server(*args) as s:
        run_bots(s, 8, 2, False)
        alone, _, _, _ = run_bots(s, 8, 10, False)
        loaded, _, _, greedy = run_bots(s, 8, 10, True)
        s.stop()
    thr = sum(1 for g in greedy if g[0] == 429)
    return p95(alone) * 1e3, p95(loaded) * 1e3, len(greedy), thr


def weights():
    with Server('--parallel', 2, '--queue', 64, '-t', 1, '--tenants', 'gold:weight=3;silver:weight=1',
                '--api-keys', f'gold:{sha("sk-gold")};silver:{sha("sk-silver")}', model=SYNTH) as s:
        stop = threading.Event()

        def loop(key, i):
            while not stop.is_set():
                post(s.port, '/v1/chat/completions', {'model': 'llama-f32', 'max_tokens': 128,
                     'messages': [{'role': 'user', 'content': 'a'}]},
                     {'Authorization': f'Bearer {key}', 'x-openclaw-agent-id': f'{key}-{i}'})
        ts = [threading.Thread(target=loop, args=(k, i)) for k in ('sk-gold', 'sk-silver') for i in range(12)]
        for t in ts:
            t.start()
        time.sleep(2)
        a = tenant_tokens(s.port)
        time.sleep(12)
        b = tenant_tokens(s.port)
        stop.set()
        for t in ts:
            t.join(60)
        s.stop()
    return b['gold'] - a['gold'], b['silver'] - a['silver']


def metric(text, name):
    for l in text.splitlines():
        if l.startswith(name + '{'):
            return float(l.split()[-1])
    return float('nan')


def latency_target(target):
    """8 clients streaming 600-token completions; the scheduler's own p95 of a
    decode step (lmx_decode_step_p95_seconds) and batch cap mid-run, and the
    aggregate tokens per second."""
    args = ['--parallel', 8, '-t', 2] + (['--itl-target-ms', target] if target else [])
    with Server(*args, model=SYNTH) as s:
        res = []

        def one():
            st, j, _ = post(s.port, '/v1/completions', {'model': 'llama-f32', 'prompt': 'a',
                                                         'max_tokens': 600}, timeout=300)
            res.append(j['usage']['completion_tokens'] if st == 200 else 0)
        t0 = time.time()
        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        time.sleep(8)
        _, _, _, m = s.request('GET', '/metrics')
        for t in ts:
            t.join(300)
        wall = time.time() - t0
        s.stop()
    return metric(m, 'lmx_decode_step_p95_seconds') * 1e3, sum(res) / wall, int(metric(m, 'lmx_batch_cap'))


def stream_gaps(port, model, n_tokens):
    """One streamed chat: (gaps between content chunks in s, chunks)."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=300)
    c.request('POST', '/v1/chat/completions', json.dumps(
        {'model': model, 'max_tokens': n_tokens, 'ignore_eos': True, 'stream': True,
         'messages': [{'role': 'user', 'content': 'Once upon a time'}]}),
        {'Content-Type': 'application/json'})
    r = c.getresponse()
    gaps, last, n = [], None, 0
    while True:
        line = r.readline()
        if not line:
            break
        if line.startswith(b'data: {') and b'"content"' in line:
            now = time.perf_counter()
            if last is not None:
                gaps.append(now - last)
            last, n = now, n + 1
    c.close()
    return gaps, n


def itl_per_model(rounds, target_ms):
    """Interleaved runs on the targeted and the free copy of one model."""
    d = tempfile.mkdtemp(prefix='lmx-itl-bench-')
    try:
        src = os.path.join(d, 'synth.gguf')
        subprocess.run([sys.executable, os.path.join(SHARED, 'tools', 'synth_gguf.py'), src,
                        '--arch', 'llama', '--n-embd', '1024', '--n-layer', '6', '--n-head', '16',
                        '--n-head-kv', '4', '--n-ff', '2816', '--type', 'f32'],
                       check=True, stdout=subprocess.DEVNULL)
        for n in ('targeted', 'free'):
            os.symlink(src, os.path.join(d, n + '.gguf'))
        with Server('--models-dir', d, '--parallel', 8, '-c', 512, '-t', 2, model=None) as s:
            def load(name, body):
                c = http.client.HTTPConnection('127.0.0.1', s.port, timeout=300)
                c.request('POST', '/admin/models/load', json.dumps({'model': name, **body}),
                          {'Content-Type': 'application/json', **admin_headers()})
                r = c.getresponse()
                assert r.status == 200, r.read()
                r.read()
            load('targeted', {'itl_target_ms': target_ms})
            load('free', {})
            for r in range(rounds):
                for name in ('targeted', 'free'):
                    out = [None] * 8
                    t0 = time.perf_counter()

                    def one(i):
                        out[i] = stream_gaps(s.port, name, 160)
                    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
                    for t in ts:
                        t.start()
                    for t in ts:
                        t.join(300)
                    wall = time.perf_counter() - t0
                    gaps = sorted(g for o in out for g in o[0])
                    toks = sum(o[1] for o in out)
                    _, _, _, m = s.request('GET', '/admin/status', headers=admin_headers())
                    st = {x['id']: x for x in json.loads(m)['models']}[name]
                    print(f'round {r} {name} (itl_target_ms {st["itl_target_ms"]}): inter-token p95 '
                          f'{gaps[int(len(gaps) * 0.95)] * 1e3:.1f} ms, median '
                          f'{gaps[len(gaps) // 2] * 1e3:.1f} ms, {toks / wall:.0f} tok/s, '
                          f'batch cap {st["batch_cap"]}, server step p95 {st["itl_p95_ms"]:.1f} ms',
                          flush=True)
            s.stop()
    finally:
        shutil.rmtree(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-r', type=int, default=1)
    ap.add_argument('--only', choices=('fairness', 'weights', 'latency', 'itl-per-model'))
    ap.add_argument('--target-ms', type=float, default=60, help='itl-per-model: the target')
    a = ap.parse_args()
    if a.only == 'itl-per-model':
        return itl_per_model(a.r, a.target_ms)
    for r in range(a.r):
        for cap in (False, True) if a.only in (None, 'fairness') else ():
            al, lo, n, thr = fairness(cap)
            print(f'round {r} fairness cap={cap}: polite TTFT p95 {al:.1f} ms alone, {lo:.1f} ms beside '
                  f'the greedy bot ({n} greedy requests, {thr} throttled)', flush=True)
        if a.only not in (None, 'weights'):
            g = sv = 0
        else:
            g, sv = weights()
        if a.only in (None, 'weights'):
            print(f'round {r} weights 3:1: gold {g} silver {sv} tokens, ratio {g / max(sv, 1):.2f}', flush=True)
        if a.only not in (None, 'latency'):
            continue
        base, tps, cap = latency_target(0)
        print(f'round {r} latency target off: decode step p95 {base:.1f} ms, {tps:.0f} tok/s, cap {cap}',
              flush=True)
        tgt = max(1, int(base * 0.6))
        p, tps2, cap2 = latency_target(tgt)
        print(f'round {r} latency target {tgt} ms: decode step p95 {p:.1f} ms, {tps2:.0f} tok/s, '
              f'cap {cap2}', flush=True)


if __name__ == '__main__':
    main()
