#!/usr/bin/env python3
"""Prompt scoring benchmark: /v1/completions with echo and max_tokens 0, the
prompt evaluated plainly (no logprobs) against scored (logprobs N: every
position's log-probabilities, sched/score.c), interleaved, each prompt
distinct (no prefix cache). Figures only; prints a markdown table and the
server's peak resident memory.

  bench/score_bench.py --model M.gguf [--tokens 512,3000] [--rounds 3] [--logprobs 5] [--threads N]

Prompt tok/s = usage.prompt_tokens / the request's wall time; tok/CPU-s the same
over the server's CPU time (user + system) during the request, steadier on a
shared machine."""
import argparse, http.client, json, os, random, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ('time little girl dog park ball tree happy sun play friend house cat bird red big blue '
         'mom day jump run water sky flower garden rain walk smile toy box cake').split()


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(port, body):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=600)
    t0 = time.time()
    c.request('POST', '/v1/completions', json.dumps(body), {'Content-Type': 'application/json'})
    r = c.getresponse()
    b = json.loads(r.read())
    dt = time.time() - t0
    c.close()
    assert r.status == 200, b
    return b, dt


def cpu_s(pid):
    """utime + stime of the server so far, in seconds."""
    with open(f'/proc/{pid}/stat') as f:
        v = f.read().rsplit(')', 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf('SC_CLK_TCK')


def vm_kb(pid, key):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--tokens', default='512,3000')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--logprobs', type=int, default=5)
    ap.add_argument('--threads', type=int, default=0)
    a = ap.parse_args()
    port = free_port()
    cmd = [os.path.join(ROOT, 'build', 'lmx'), 'serve', '-m', a.model, '--port', str(port), '-c', '8192',
           '--parallel', '2']
    if a.threads:
        cmd += ['-t', str(a.threads)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(7)
        print(f'model {os.path.basename(a.model)}, logprobs {a.logprobs}, {a.rounds} rounds interleaved')
        print('| prompt tokens | plain tok/s | scored tok/s | scored / plain | plain tok/CPU-s | scored tok/CPU-s |')
        print('|---|---|---|---|---|---|')
        for want in map(int, a.tokens.split(',')):
            res = {'plain': [], 'scored': []}
            cpu = {'plain': [], 'scored': []}
            n_tok = 0
            for r in range(a.rounds):
                for kind in ('plain', 'scored'):
                    # about want tokens of distinct words: nothing comes from the prefix cache
                    text = ' '.join(rng.choice(WORDS) for _ in range(want))
                    body = {'prompt': text, 'max_tokens': 0, 'echo': True}
                    if kind == 'scored':
                        body['logprobs'] = a.logprobs
                    c0 = cpu_s(p.pid)
                    b, dt = post(port, body)
                    n_tok = b['usage']['prompt_tokens']
                    res[kind].append(n_tok / dt)
                    cpu[kind].append(n_tok / max(cpu_s(p.pid) - c0, 0.01))
            pl, sc = res['plain'], res['scored']
            ratio = sorted(s / q for s, q in zip(sc, pl))
            cp, cs = cpu['plain'], cpu['scored']
            print(f'| {n_tok} | {min(pl):.0f}–{max(pl):.0f} | {min(sc):.0f}–{max(sc):.0f} | '
                  f'{ratio[0]:.2f}–{ratio[-1]:.2f} | {min(cp):.0f}–{max(cp):.0f} | {min(cs):.0f}–{max(cs):.0f} |')
        print(f'server peak RSS (VmHWM): {vm_kb(p.pid, "VmHWM") / 1024:.0f} MiB')
    finally:
        p.terminate()
        p.wait()


if __name__ == '__main__':
    main()
