#!/usr/bin/env python3
"""Interactive chat latency while agent runs flood the daemon (figures only).

Starts `lmx serve` on the synthetic Qwen-vocabulary model (or MODEL=path) with
--agents-workers W, then measures the wall time of short chat requests
(max_tokens 8) in three conditions, interleaved round by round so machine noise
hits them alike:
  idle     nothing else running;
  stream   one plain /v1/chat/completions decode of STEP tokens in the background
           (what one busy agent executor costs: the same work);
  flood    RUNS agent runs created at once (each one model step of STEP tokens),
           W executing and the rest queued (creation past the queue is refused
           with 429 agents_queue_full, counted).
If queued runs cost interactive traffic nothing beyond the steps executing, flood
tracks stream, not the number of runs.
Usage: bench/agents_latency.py [-r ROUNDS] [-n RUNS] [-w WORKERS] [--step TOKENS]"""
import argparse, http.client, json, os, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('LMX_SHARED') or os.path.join(os.path.dirname(ROOT), 'shared')
MODEL = os.environ.get('MODEL') or os.path.join(SHARED, 'models', 'synth', 'qwen2-vocab-q8_0.gguf')
NAME = os.path.basename(MODEL)[:-5]
NO_EOS = {'151645': -100, '151643': -100}


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, timeout=300):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={'Content-Type': 'application/json'})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data or b'null')


def chat_ms(port):
    t = time.perf_counter()
    st, j = call(port, 'POST', '/v1/chat/completions', {
        'model': NAME, 'messages': [{'role': 'user', 'content': 'Hi'}], 'max_tokens': 8})
    assert st == 200, j
    return (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-r', '--rounds', type=int, default=3)
    ap.add_argument('-n', '--runs', type=int, default=12)
    ap.add_argument('-w', '--workers', type=int, default=1)
    ap.add_argument('--step', type=int, default=128)
    a = ap.parse_args()
    port = free_port()
    tmp = tempfile.mkdtemp()
    p = subprocess.Popen([os.path.join(ROOT, 'build', 'lmx'), 'serve', '-m', MODEL, '--port', str(port),
                          '-c', '2048', '-t', '2', '--parallel', '4', '--agents-db', os.path.join(tmp, 'a.db'),
                          '--agents-workers', str(a.workers), '--agents-queue-per-tenant', str(a.runs // 2 + 1)],
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if call(port, 'GET', '/health', timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        res = {'idle': [], 'stream': [], 'flood': []}
        refused = 0
        for rnd in range(a.rounds):
            res['idle'] += [chat_ms(port) for _ in range(5)]
            bg = threading.Thread(target=call, args=(port, 'POST', '/v1/chat/completions', {
                'model': NAME, 'messages': [{'role': 'user', 'content': 'Go'}], 'max_tokens': a.step,
                'logit_bias': NO_EOS}))
            bg.start()
            time.sleep(0.3)
            res['stream'] += [chat_ms(port) for _ in range(5)]
            bg.join()
            ids = []
            d = {'model': NAME, 'limits': {'max_tokens_per_step': a.step}, 'sampling': {'logit_bias': NO_EOS}}
            for i in range(a.runs):
                st, j = call(port, 'POST', '/v1/agents/runs', {'definition': d, 'input': f'r{rnd}-{i}'})
                if st == 201:
                    ids.append(j['id'])
                else:
                    refused += 1
            time.sleep(0.3)
            res['flood'] += [chat_ms(port) for _ in range(5)]
            for rid in ids:
                call(port, 'POST', f'/v1/agents/runs/{rid}/cancel')
        for k, v in res.items():
            v.sort()
            print(f'{k:6s} chat ms: p50 {statistics.median(v):7.1f}  min {v[0]:7.1f}  max {v[-1]:7.1f}  (n={len(v)})')
        print(f'flood: {a.runs} runs per round, {a.workers} executor(s); {refused} creations refused (429)')
    finally:
        p.terminate()
        p.wait(30)


if __name__ == '__main__':
    main()
