#!/usr/bin/env python3
"""Runs every LMX test: the unit-test binary, then each end-to-end test script in
tests/e2e/ (test_*.py, each a standalone script printing "N passed, N failed" last).
Prints the grand total as its last line: "N passed, N failed"."""
import argparse, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL = re.compile(r'^(\d+) passed, (\d+) failed')


def leftover_servers(lmx_bin):
    """pids of `lmx serve` processes of this build still running (a test that leaked one)."""
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            argv = open(f'/proc/{d}/cmdline', 'rb').read().split(b'\0')
        except OSError:
            continue
        if len(argv) > 1 and argv[0].decode(errors='replace') == lmx_bin and argv[1] == b'serve':
            pids.append(int(d))
    return pids


def run(cmd, env):
    t0 = time.time()
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout
    passed = failed = None
    for line in out.splitlines()[::-1]:
        m = TOTAL.match(line.strip())
        if m:
            passed, failed = int(m.group(1)), int(m.group(2))
            break
    if passed is None:  # crashed or printed no total: count the whole script as one failure
        passed, failed = 0, 1
    leaked = leftover_servers(env['LMX_BIN'])
    for _ in range(20):  # one being stopped as the script exited gets 2 s
        if not leaked:
            break
        time.sleep(0.1)
        leaked = leftover_servers(env['LMX_BIN'])
    if leaked:  # every server a test starts must be stopped by it
        out += f"\n{len(leaked)} lmx serve process(es) left running: {leaked}\n"
        failed += 1
        for pid in leaked:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    if failed or p.returncode != 0:
        failed = max(failed, 1)
        sys.stdout.write(out)
    print(f"== {' '.join(cmd)}: {passed} passed, {failed} failed ({time.time() - t0:.1f}s)", flush=True)
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('only', nargs='*', help='run only the e2e scripts whose name contains one of these')
    a = ap.parse_args()
    env = dict(os.environ)
    env.setdefault('LMX_SHARED', os.path.join(os.path.dirname(ROOT), 'shared'))
    env['LMX_BIN'] = os.path.join(ROOT, a.build, 'lmx')
    P = F = 0
    if not a.only:
        p, f = run([os.path.join(a.build, 'test_unit')], env)
        P += p; F += f
    e2e = sorted(x for x in os.listdir(os.path.join(ROOT, 'tests', 'e2e')) if x.startswith('test_') and x.endswith('.py'))
    for name in e2e:
        if a.only and not any(o in name for o in a.only):
            continue
        p, f = run([sys.executable, os.path.join('tests', 'e2e', name)], env)
        P += p; F += f
    print(f"{P} passed, {F} failed")
    sys.exit(1 if F else 0)


if __name__ == '__main__':
    main()
