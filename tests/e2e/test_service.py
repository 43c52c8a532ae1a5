#!/usr/bin/env python3
"""Running lmx as a service: `make install DESTDIR=...` lays out the binary, the systemd unit
and the launchd plist; `lmx serve` tells systemd it is ready over $NOTIFY_SOCKET (a datagram
socket the test opens, as systemd would) only once it accepts connections, and reports
reloading and stopping."""
import os, plistlib, re, shutil, signal, socket, subprocess, tempfile, time

from harness import LMX, ROOT, main, test
from server_util import free_port


@test
def make_install_with_destdir_lays_out_binary_unit_plist_and_config():
    dest = tempfile.mkdtemp(prefix='lmx-install-')
    build = os.path.relpath(os.path.dirname(LMX), ROOT)
    try:
        p = subprocess.run(['make', '-s', 'install', f'DESTDIR={dest}', 'PREFIX=/usr', f'BUILD={build}'],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        binp = os.path.join(dest, 'usr/bin/lmx')
        assert os.access(binp, os.X_OK)
        h = subprocess.run([binp, 'serve', '--help'], capture_output=True, text=True)
        assert h.returncode == 0 and '--config FILE' in h.stdout, (h.stdout, h.stderr)
        unit = open(os.path.join(dest, 'usr/lib/systemd/system/lmx.service')).read()
        for line in ('Type=notify', 'ExecStart=/usr/bin/lmx serve --config /etc/lmx/config.yaml',
                     'ExecReload=/bin/kill -HUP $MAINPID', 'Restart=on-failure', 'NoNewPrivileges=yes',
                     'ProtectSystem=strict', 'StateDirectory=lmx', 'ProtectHome=yes', 'PrivateTmp=yes',
                     # HF_TOKEN / HF_ENDPOINT for the daemon's downloads (docs/service.md)
                     'EnvironmentFile=-/etc/lmx/environment'):
            assert line + '\n' in unit, line
        assert not re.search(r'@[A-Z]+@', unit), 'a placeholder is left in the unit'
        sa = shutil.which('systemd-analyze')
        if sa:  # systemd's own check of every key (pointed at the staged binary)
            staged = os.path.join(dest, 'lmx.service')
            with open(staged, 'w') as f:
                f.write(unit.replace('/usr/bin/lmx', binp))
            v = subprocess.run([sa, 'verify', staged], capture_output=True, text=True, timeout=60)
            assert v.returncode == 0 and not v.stderr.strip(), v.stderr
        with open(os.path.join(dest, 'usr/share/lmx/com.lmx.serve.plist'), 'rb') as f:
            pl = plistlib.load(f)
        assert pl['Label'] == 'com.lmx.serve' and pl['ProgramArguments'] == ['/usr/bin/lmx', 'serve'], pl
        assert pl['KeepAlive'] == {'SuccessfulExit': False}, pl
        conf = os.path.join(dest, 'etc/lmx/config.yaml')
        assert os.path.exists(conf)
        assert os.path.exists(os.path.join(dest, 'usr/share/doc/lmx/service.md'))
        # the installed binary starts with the installed config
        port = free_port()
        s = subprocess.Popen([binp, 'serve', '--config', conf, '--port', str(port)],
                             stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
                    break
                except OSError:
                    assert s.poll() is None, s.stderr.read()
                    time.sleep(0.02)
        finally:
            s.send_signal(signal.SIGTERM)
            assert s.wait(30) == 0
        # a second install keeps an edited config
        with open(conf, 'a') as f:
            f.write('# edited\n')
        p = subprocess.run(['make', '-s', 'install', f'DESTDIR={dest}', 'PREFIX=/usr', f'BUILD={build}'],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0 and open(conf).read().endswith('# edited\n'), p.stderr
        p = subprocess.run(['make', '-s', 'uninstall', f'DESTDIR={dest}', 'PREFIX=/usr'],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and not os.path.exists(binp), p.stderr
    finally:
        shutil.rmtree(dest)


def notify_socket(abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f'lmx-notify-test-{os.getpid()}-{time.monotonic_ns()}'
        s.bind('\0' + name)
        return s, '@' + name, None
    d = tempfile.mkdtemp(prefix='lmx-notify-')
    path = os.path.join(d, 'notify')
    s.bind(path)
    return s, path, d


def recv(s, timeout=30):
    s.settimeout(timeout)
    return s.recv(4096).decode()


def check_notify(abstract):
    s, addr, d = notify_socket(abstract)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=addr, HOME=tempfile.mkdtemp(prefix='lmx-home-'))
    p = subprocess.Popen([LMX, 'serve', '-t', '1', '--port', str(port)], env=env,
                         stderr=subprocess.DEVNULL)
    try:
        msg = recv(s)
        assert 'READY=1' in msg.split('\n'), msg
        assert f'MAINPID={p.pid}' in msg, msg
        assert f'STATUS=listening on 127.0.0.1:{port}' in msg, msg
        # READY comes after the socket listens: a connection succeeds at once
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        p.send_signal(signal.SIGHUP)
        assert recv(s) == 'RELOADING=1'
        assert 'READY=1' in recv(s)
        p.send_signal(signal.SIGTERM)
        assert recv(s) == 'STOPPING=1'
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        s.close()
        if d:
            shutil.rmtree(d)


@test
def ready_reloading_and_stopping_are_sent_to_notify_socket():
    check_notify(abstract=False)


@test
def notify_socket_in_the_abstract_namespace():
    check_notify(abstract=True)


@test
def no_ready_before_startup_models_load_and_none_when_startup_fails():
    s, addr, d = notify_socket(False)
    env = dict(os.environ, NOTIFY_SOCKET=addr, HOME=tempfile.mkdtemp(prefix='lmx-home-'))
    p = subprocess.run([LMX, 'serve', '-t', '1', '--port', str(free_port()), '-m', '/nonexistent.gguf'],
                       env=env, capture_output=True, text=True, timeout=60)
    try:
        assert p.returncode == 1, p.stderr
        s.settimeout(0.2)
        try:
            msg = s.recv(4096)
        except socket.timeout:
            msg = None
        assert msg is None, msg
    finally:
        s.close()
        shutil.rmtree(d)


if __name__ == '__main__':
    main()
