#!/usr/bin/env python3
"""HTTPS and mTLS on lmx serve, with certificates this test makes with
openssl: curl and the openai npm SDK over TLS, client certificates required
and mapped to tenants, a certificate reloaded on SIGHUP without dropping an
open stream, and the internet profile starting only with TLS and keys."""
import http.client, json, os, shutil, signal, ssl, subprocess, tempfile, threading, time

from harness import SHARED, admin_headers, lmx, main, test
from server_util import MODEL, Server

SYNTH = os.path.join(SHARED, 'models', 'synth', 'llama-f32.gguf')


def sh(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)


def make_ca(d, name):
    sh('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f'{name}.key', '-out',
       f'{name}.pem', '-days', '2', '-subj', f'/CN={name}', cwd=d)


def make_cert(d, ca, name, cn, server=False):
    sh('openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f'{name}.key', '-out',
       f'{name}.csr', '-subj', f'/CN={cn}', cwd=d)
    ext = os.path.join(d, 'ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n' if server else 'basicConstraints=CA:FALSE\n')
    sh('openssl', 'x509', '-req', '-in', f'{name}.csr', '-CA', f'{ca}.pem', '-CAkey', f'{ca}.key',
       '-CAcreateserial', '-out', f'{name}.pem', '-days', '2', '-extfile', ext, cwd=d)


class Certs:
    def __init__(self):
        self.d = tempfile.mkdtemp(prefix='lmx-tls-')
        make_ca(self.d, 'ca')
        make_ca(self.d, 'rogue')
        make_cert(self.d, 'ca', 'srv', '127.0.0.1', server=True)
        make_cert(self.d, 'ca', 'srv2', 'localhost', server=True)
        make_cert(self.d, 'ca', 'red', 'team-red')
        make_cert(self.d, 'rogue', 'fake', 'team-red')

    def p(self, name):
        return os.path.join(self.d, name)


_certs = None


def certs():
    global _certs
    if _certs is None:
        _certs = Certs()
    return _certs


def ctx(client=None):
    c = ssl.create_default_context(cafile=certs().p('ca.pem'))
    if client:
        c.load_cert_chain(certs().p(f'{client}.pem'), certs().p(f'{client}.key'))
    return c


def https(port, method, path, body=None, client=None, timeout=60, headers=None):
    c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx(client), timeout=timeout)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {'Content-Type': 'application/json', **(headers or {})})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, json.loads(text) if text.startswith('{') else text


def tls_args(ca=False):
    c = certs()
    a = ['--tls-cert', c.p('srv.pem'), '--tls-key', c.p('srv.key'), '--tenancy-db', ':memory:']
    return a + (['--tls-ca', c.p('ca.pem')] if ca else [])


@test
def https_works_with_curl_and_the_openai_sdk_and_plain_http_is_refused():
    from node_checks import run_driver
    with Server(*tls_args()) as s:
        p = subprocess.run(['curl', '-sS', '--cacert', certs().p('ca.pem'),
                            f'https://127.0.0.1:{s.port}/v1/chat/completions', '-H',
                            'Content-Type: application/json', '-d',
                            json.dumps({'model': MODEL, 'max_tokens': 4,
                                        'messages': [{'role': 'user', 'content': 'hi'}]})],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and json.loads(p.stdout)['object'] == 'chat.completion', p
        p = subprocess.run(['curl', '-sS', '-m', '5', f'http://127.0.0.1:{s.port}/v1/models'],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 or 'object' not in p.stdout, p.stdout
        env = dict(os.environ, BASE_URL=f'https://127.0.0.1:{s.port}/v1', MODEL=MODEL,
                   NODE_EXTRA_CA_CERTS=certs().p('ca.pem'))
        results, out = run_driver('tls.mjs', env)
        assert results == {'chat_and_stream_over_https': None}, out[-3000:]
        s.stop()


@test
def mtls_rejects_clients_without_a_valid_certificate_and_maps_the_subject_to_a_tenant():
    with Server(*tls_args(ca=True)) as s:
        body = {'model': MODEL, 'max_tokens': 3, 'messages': [{'role': 'user', 'content': 'hi'}]}
        st, j = https(s.port, 'POST', '/v1/chat/completions', body)
        assert st == 401 and j['error']['code'] == 'client_certificate_required', (st, j)
        try:  # a certificate from another CA: refused in the handshake or with a 401
            st, j = https(s.port, 'POST', '/v1/chat/completions', body, client='fake')
            assert st == 401 and j['error']['code'] == 'invalid_client_certificate', (st, j)
        except (ssl.SSLError, ConnectionError):
            pass
        st, j = https(s.port, 'POST', '/v1/chat/completions', body, client='red')
        assert st == 200, (st, j)
        s.stop()
        lines = [json.loads(l) for l in s.logs().splitlines() if '"status":200' in l]
        assert [l.get('tenant') for l in lines] == ['team-red'], lines


def peer_serial(port):
    with ssl.create_connection(('127.0.0.1', port), timeout=10) as raw:
        with ctx().wrap_socket(raw, server_hostname='127.0.0.1') as t:
            return t.getpeercert()['serialNumber']


@test
def sighup_reloads_the_certificate_without_dropping_an_open_stream():
    c = certs()
    live = tempfile.mkdtemp(prefix='lmx-tls-live-')
    shutil.copy(c.p('srv.pem'), os.path.join(live, 'cert.pem'))
    shutil.copy(c.p('srv.key'), os.path.join(live, 'key.pem'))
    with Server('--tls-cert', os.path.join(live, 'cert.pem'), '--tls-key',
                os.path.join(live, 'key.pem'), '--tenancy-db', ':memory:', '-t', 1,
                model=SYNTH) as s:
        first = peer_serial(s.port)
        got = {}

        def stream():
            conn = http.client.HTTPSConnection('127.0.0.1', s.port, context=ctx(), timeout=120)
            conn.request('POST', '/v1/chat/completions',
                         json.dumps({'model': 'llama-f32', 'max_tokens': 1500, 'stream': True,
                                     'messages': [{'role': 'user', 'content': 'a'}]}),
                         {'Content-Type': 'application/json'})
            r = conn.getresponse()
            got['status'] = r.status
            got['body'] = r.read().decode()
            conn.close()
        t = threading.Thread(target=stream)
        t.start()
        time.sleep(0.5)
        shutil.copy(c.p('srv2.pem'), os.path.join(live, 'cert.pem'))
        shutil.copy(c.p('srv2.key'), os.path.join(live, 'key.pem'))
        s.p.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while peer_serial(s.port) == first and time.time() < deadline:
            time.sleep(0.2)
        assert peer_serial(s.port) != first, 'the new certificate was not served'
        assert t.is_alive() or got, 'the stream ended before the reload'
        t.join(120)
        assert got.get('status') == 200 and got['body'].rstrip().endswith('data: [DONE]'), got
        s.stop()
        assert 'TLS certificate reloaded' in s.logs()


@test
def internet_profile_starts_with_tls_and_keys_and_keeps_the_admin_api_local():
    with Server('--profile', 'internet', '--api-key', 'sk-i', *tls_args()) as s:
        st, j = https(s.port, 'GET', '/v1/models')
        assert st == 401, (st, j)
        st, j = https(s.port, 'GET', '/admin/status', headers=admin_headers())  # loopback: allowed
        assert st == 200, (st, j)
        s.stop()
    p = lmx('serve', '--port', 0, '--profile', 'internet', '--api-key', 'k', '--tenancy-db',
            ':memory:', check=False, timeout=30)
    assert p.returncode == 2 and 'requires TLS' in p.stderr, p.stderr


if __name__ == '__main__':
    main()
