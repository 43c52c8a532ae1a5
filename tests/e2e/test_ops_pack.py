#!/usr/bin/env python3
"""The operations pack (ops/): the Prometheus alerting rules pass
`promtool check rules` and their unit tests (`promtool test rules`), and every
metric the rules and the Grafana dashboard use is one a running lmx serve
exports."""
import json, os, re, shutil, subprocess

from harness import ROOT, main, test
from server_util import Server

OPS = os.path.join(ROOT, 'ops')
RULES = os.path.join(OPS, 'prometheus', 'lmx-alerts.yml')
DASH = os.path.join(OPS, 'grafana', 'lmx-dashboard.json')


def promtool(*args):
    exe = shutil.which('promtool')
    assert exe, 'promtool not found: scripts/install-deps.sh installs the Debian package prometheus'
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120,
                       cwd=os.path.join(OPS, 'prometheus'))
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@test
def alerting_rules_pass_promtool_check_and_their_unit_tests():
    assert 'SUCCESS: 6 rules found' in promtool('check', 'rules', 'lmx-alerts.yml')
    assert 'SUCCESS' in promtool('test', 'rules', 'lmx-alerts.test.yml')


def metric_names(expr):
    names = set(re.findall(r'\b((?:lmx|process)_[a-z0-9_]+)', expr))
    return {re.sub(r'_(bucket|sum|count)$', '', n) if n.endswith(('_bucket',)) else n for n in names}


@test
def every_metric_the_rules_and_dashboard_use_is_exported():
    exprs, cur = [], None
    for line in open(RULES):  # each rule's expr: its line and the folded lines after it
        if line.strip().startswith('expr:'):
            cur = [line.split('expr:', 1)[1]]
            exprs.append(cur)
        elif cur is not None and re.match(r'\s+(for|labels|annotations):', line):
            cur = None
        elif cur is not None:
            cur.append(line)
    exprs = [' '.join(e) for e in exprs]
    assert len(exprs) == 6, exprs
    d = json.load(open(DASH))
    assert d['panels'] and all(p['targets'] for p in d['panels'])
    exprs += [t['expr'] for p in d['panels'] for t in p['targets']]
    used = set()
    for e in exprs:
        used |= metric_names(e)
    assert len(used) >= 20, used
    with Server('--tenancy-db', ':memory:', '--tenants', 'team:weight=2') as s:
        assert s.chat(max_tokens=4)[0] == 200
        st, _, _, text = s.request('GET', '/metrics')
        s.stop()
    exported = set(re.findall(r'^# TYPE (\S+)', text, re.M))
    missing = sorted(n for n in used if n not in exported)
    assert not missing, missing


if __name__ == '__main__':
    main()
