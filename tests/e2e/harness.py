"""A tiny harness for the end-to-end scripts: @test functions, run by main(),
which prints "N passed, N failed" last and exits non-zero on any failure."""
import os, subprocess, sys, traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get('LMX_SHARED') or os.path.join(os.path.dirname(ROOT), 'shared')
LMX = os.environ.get('LMX_BIN') or os.path.join(ROOT, 'build', 'lmx')
STORIES = os.path.join(SHARED, 'models', 'stories260K.gguf')
_tests = []
# Every daemon and CLI the tests start keeps its state (the admin token) in one
# place, whatever HOME a test gives them: the runner's own ~/.lmx.
os.environ.setdefault('LMX_STATE_DIR', os.path.join(os.path.expanduser('~'), '.lmx'))


def admin_key():
    """The admin token `lmx serve` creates at its first start ($LMX_STATE_DIR or
    ~/.lmx/admin.token; the daemons the tests start share it), or None."""
    d = os.environ['LMX_STATE_DIR']
    try:
        with open(os.path.join(d, 'admin.token')) as f:
            return f.read().strip() or None
    except OSError:
        return None


def admin_headers():
    """{'X-Admin-Key': token} for admin routes (empty before any daemon ran)."""
    k = admin_key()
    return {'X-Admin-Key': k} if k else {}


def test(fn):
    _tests.append(fn)
    return fn


def lmx(*args, timeout=120, check=True, env=None):
    """Runs build/lmx; returns CompletedProcess (text mode)."""
    p = subprocess.run([LMX, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    p.stdout_bytes = p.stdout
    p.stdout = p.stdout.decode('utf-8', 'replace')
    p.stderr = p.stderr.decode('utf-8', 'replace')
    if check and p.returncode != 0:
        raise AssertionError(f"lmx {' '.join(map(str, args))} exited {p.returncode}: {p.stderr[-2000:]}")
    return p


def main():
    only = sys.argv[1:]
    passed = failed = 0
    for fn in _tests:
        if only and not any(o in fn.__name__ for o in only):
            continue
        try:
            fn()
            print(f"ok   {fn.__name__}", file=sys.stderr)
            passed += 1
        except Exception:
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", file=sys.stderr)
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
