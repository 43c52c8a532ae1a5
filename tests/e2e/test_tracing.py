#!/usr/bin/env python3
"""Tracing: a test OTLP/HTTP receiver (python's http.server) gets lmx serve's
spans — the request's, with the caller's W3C trace id and parent span, its
queue wait, prefill and decode, and the model load — as OTLP JSON."""
import http.server, json, os, shutil, tempfile, threading, time

from harness import main, test
from server_util import MODEL, Server

TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
PARENT = '00f067aa0ba902b7'


class Receiver:
    def __init__(self):
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get('Content-Length', 0))
                outer.bodies.append((self.path, self.headers.get('Content-Type'),
                                     json.loads(self.rfile.read(n))))
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.end_headers()
                self.wfile.write(b'{}')

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def spans(self):
        out = []
        for _, _, b in self.bodies:
            for rs in b['resourceSpans']:
                svc = {a['key']: a['value'] for a in rs['resource']['attributes']}
                for ss in rs['scopeSpans']:
                    for s in ss['spans']:
                        out.append(dict(s, service=svc['service.name']['stringValue']))
        return out

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@test
def an_otlp_receiver_gets_the_requests_spans_with_the_callers_trace_id():
    rx = Receiver()
    try:
        with Server('--otlp-endpoint', f'http://127.0.0.1:{rx.port}/v1/traces') as s:
            st, j, resp, _ = s.post('/v1/chat/completions',
                                    {'model': MODEL, 'max_tokens': 8,
                                     'messages': [{'role': 'user', 'content': 'Once upon a time'}]},
                                    headers={'traceparent': f'00-{TRACE}-{PARENT}-01'})
            assert st == 200, j
            tp = resp.getheader('traceparent')
            assert tp and tp.startswith(f'00-{TRACE}-') and PARENT not in tp, tp
            mine = tp.split('-')[2]
            # a malformed traceparent starts a new trace
            st, _, resp2, _ = s.post('/v1/chat/completions',
                                     {'model': MODEL, 'max_tokens': 2,
                                      'messages': [{'role': 'user', 'content': 'hi'}]},
                                     headers={'traceparent': '00-xyz-00f067aa0ba902b7-01'})
            other = resp2.getheader('traceparent').split('-')[1]
            assert st == 200 and other != TRACE and len(other) == 32, other
            deadline = time.time() + 20
            while time.time() < deadline:
                spans = [x for x in rx.spans() if x['traceId'] == TRACE]
                if len(spans) >= 4:
                    break
                time.sleep(0.2)
            s.stop()
        assert rx.bodies and rx.bodies[0][0] == '/v1/traces' and rx.bodies[0][1] == 'application/json'
        spans = {x['name']: x for x in rx.spans() if x['traceId'] == TRACE}
        assert set(spans) == {'request', 'queue', 'prefill', 'decode'}, sorted(spans)
        req = spans['request']
        assert req['spanId'] == mine and req['parentSpanId'] == PARENT and req['service'] == 'lmx', req
        attrs = {a['key']: a['value'] for a in req['attributes']}
        assert attrs['http.response.status_code'] == {'intValue': '200'}, attrs
        assert attrs['gen_ai.usage.output_tokens']['intValue'] != '0', attrs
        for n in ('queue', 'prefill', 'decode'):
            assert spans[n]['parentSpanId'] == mine, spans[n]
            assert int(spans[n]['startTimeUnixNano']) >= int(req['startTimeUnixNano'])
            assert int(spans[n]['endTimeUnixNano']) <= int(req['endTimeUnixNano']) + 5_000_000
        assert int(spans['prefill']['startTimeUnixNano']) >= int(spans['queue']['startTimeUnixNano'])
        loads = [x for x in rx.spans() if x['name'] == 'model.load']
        assert loads and 'parentSpanId' not in loads[0], loads  # loaded at start: its own trace
    finally:
        rx.close()


@test
def a_collector_that_is_down_costs_no_request():
    with Server('--otlp-endpoint', 'http://127.0.0.1:9/v1/traces') as s:  # nothing listens on 9
        t0 = time.time()
        for _ in range(5):
            assert s.chat(max_tokens=2)[0] == 200
        assert time.time() - t0 < 30
        s.stop()


@test
def a_skill_invocation_is_a_span_of_its_request():
    rx = Receiver()
    d = tempfile.mkdtemp(prefix='lmx-trace-skills-')
    try:
        skills = os.path.join(d, 'skills')
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'skills', 'echo')
        shutil.copytree(src, os.path.join(skills, 'echo'))
        for root, _, files in os.walk(d):  # the sandbox runs skills as nobody
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        with Server('--otlp-endpoint', f'http://127.0.0.1:{rx.port}/v1/traces',
                    '--skills-dir', skills) as s:
            st, j, _, _ = s.post('/v1/skills/demo/echo@1/invoke', {'arguments': {'text': 'hi'}},
                                 headers={'traceparent': f'00-{TRACE}-{PARENT}-01'})
            assert st == 200, j
            deadline = time.time() + 20
            while time.time() < deadline and not any(
                    x['traceId'] == TRACE and x['name'] == 'skill' for x in rx.spans()):
                time.sleep(0.2)
            s.stop()
        spans = {x['name']: x for x in rx.spans() if x['traceId'] == TRACE}
        assert 'skill' in spans and 'request' in spans, sorted(spans)
        sk = spans['skill']
        assert sk['parentSpanId'] == spans['request']['spanId'], (sk, spans['request'])
        attrs = {a['key']: a['value'].get('stringValue') for a in sk['attributes']}
        assert attrs['lmx.skill.name'] == 'demo/echo' and attrs['lmx.skill.outcome'] == 'ok', attrs
        assert attrs['lmx.skill.version'].startswith('1.'), attrs
    finally:
        rx.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    main()
