"""A real terminal for the CLI tests: tmux (its own server socket per test
process) runs a command in a pane of a given size; send() types, screen()
reads what a person would see, wait_for() polls the screen with a deadline."""
import os, re, subprocess, time


class Terminal:
    def __init__(self, argv, cols=80, rows=30, env=None):
        self.sock = f'lmx-test-{os.getpid()}-{id(self)}'
        self.env = dict(env or os.environ)
        self.env.pop('TMUX', None)
        cmd = ' '.join("'" + str(a).replace("'", "'\\''") + "'" for a in argv)
        # the exit status, shown on the screen once the program ends
        cmd = f'{cmd}; echo "[exited $?]"'
        self._tmux('new-session', '-d', '-s', 't', '-x', str(cols), '-y', str(rows), cmd)
        self._tmux('set-option', '-t', 't', 'remain-on-exit', 'on')
        self._tmux('resize-window', '-t', 't', '-x', str(cols), '-y', str(rows), check=False)

    def _tmux(self, *args, check=True):
        p = subprocess.run(['tmux', '-L', self.sock, *args], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if check and p.returncode:
            raise AssertionError(f'tmux {args[0]}: {p.stderr}')
        return p.stdout

    def send(self, *keys, literal=False):
        """Types keys: literal text with literal=True, else tmux key names (Enter, C-c)."""
        self._tmux('send-keys', '-t', 't', *(['-l'] if literal else []), *keys)

    def type_line(self, text):
        self.send(text, literal=True)
        self.send('Enter')

    def screen(self, history=True):
        return self._tmux('capture-pane', '-p', '-t', 't', *(['-S', '-2000'] if history else []))

    def width(self):
        return int(self._tmux('display-message', '-p', '-t', 't', '#{pane_width}').strip())

    def dead(self):
        return '[exited ' in self.screen()

    def exit_status(self):
        m = re.search(r'\[exited (\d+)\]', self.screen())
        return int(m.group(1)) if m else None

    def wait_for(self, pred, timeout=60, what=''):
        """Polls until pred(screen) is true; the screen then, or AssertionError."""
        end = time.time() + timeout
        while True:
            s = self.screen()
            if pred(s):
                return s
            if time.time() > end:
                raise AssertionError(f'timed out waiting for {what or pred}; screen:\n{s}')
            time.sleep(0.1)

    def close(self):
        self._tmux('kill-server', check=False)
