"""Running a node driver from tests/e2e/node/ and turning its report into tests.

A driver prints "ok NAME" or "FAIL NAME: why" (indented lines continue the
why) for each of its checks; each check becomes one test here, run once
against one server however many tests read it."""
import os, shutil, subprocess

from harness import test

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'node')


def ensure_node_deps():
    """Installs tests/e2e/node's packages from its package-lock.json when any is missing."""
    import json
    deps = json.load(open(os.path.join(NODE_DIR, 'package.json')))['dependencies']
    if all(os.path.isdir(os.path.join(NODE_DIR, 'node_modules', *m.split('/'))) for m in deps):
        return
    npm = shutil.which('npm')
    assert npm, 'npm is not installed (scripts/install-deps.sh installs it)'
    subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=NODE_DIR, check=True,
                   stdout=subprocess.DEVNULL, timeout=300)


def run_driver(script, env, timeout=300):
    """Runs node/SCRIPT; returns ({check: None if ok else why}, full output)."""
    ensure_node_deps()
    p = subprocess.run(['node', os.path.join(NODE_DIR, script)], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    results, name = {}, None
    for line in p.stdout.splitlines():
        if line.startswith('ok '):
            results[line[3:].strip()] = None
        elif line.startswith('FAIL '):
            name, _, why = line[5:].partition(':')
            results[name] = why
        elif line.startswith('    ') and name:
            results[name] += '\n' + line
    if not results:
        raise AssertionError(p.stdout[-3000:])
    return results, p.stdout


def run_driver_all_pass(script, env, n, timeout=180):
    """Runs node/SCRIPT as a whole and asserts that all n of its checks passed."""
    ensure_node_deps()
    p = subprocess.run(['node', os.path.join(NODE_DIR, script)], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert p.returncode == 0 and p.stdout.strip().endswith(f'{n} passed, 0 failed'), p.stdout[-4000:]


def register(results_fn, names, prefix):
    """One test per check name, each reading results_fn() (which runs the driver once)."""
    for name in names:
        def fn(name=name):
            r = results_fn()
            assert name in r, f'{name} did not run: {sorted(r)}'
            assert r[name] is None, r[name]
        fn.__name__ = f'{prefix}_{name}'
        test(fn)
