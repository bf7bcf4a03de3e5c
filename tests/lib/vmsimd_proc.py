"""A vmsimd started for a test on a free loopback port, and Twirp JSON calls to it.

Shared by the Python end-to-end tests (tests/store, tests/exercise): each used to carry its own
copy of the start-up, call and stop code. Import it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from vmsimd_proc import Vmsimd, TWIRP
"""
import http.client
import json
import signal
import subprocess

TWIRP = "/twirp/vmsim.v1.VmSim/"


class Vmsimd:
    """vmsimd ARGS... --listen 127.0.0.1:0 --log-level warn; `port` and `url` once it listens.
    wrap: a command it runs under (valgrind ...), whose exit status stop() checks as its own;
    stop_timeout: how long stop() waits by default. A with-block stops it at the end."""

    def __init__(self, vmsimd, *args, keep_alive=False, wrap=(), stop_timeout=30):
        self.stop_timeout = stop_timeout
        self.proc = subprocess.Popen(list(wrap) + [vmsimd, "--listen", "127.0.0.1:0",
                                                   "--log-level", "warn"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if "listening on http://127.0.0.1:" not in line:
            self.proc.kill()
            raise AssertionError("vmsimd did not start: %r %r" %
                                 (line, self.proc.stderr.read().decode()[-3000:]))
        self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))
        self.url = "http://127.0.0.1:%d" % self.port
        # One connection for every call (keep-alive), or a new one per call.
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10) \
            if keep_alive else None

    def call(self, method, body, token=None, path=None, verb="POST"):
        """(HTTP status, the decoded JSON answer, or the raw bytes if it is not JSON)."""
        c = self.conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        c.request(verb, path or TWIRP + method, json.dumps(body) if verb == "POST" else None,
                  headers)
        r = c.getresponse()
        data = r.read()
        if not self.conn:
            c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def stop(self, timeout=None):
        """SIGTERM; vmsimd must exit 0 within timeout seconds (its stderr tail is in the
        failure otherwise). A server that died on its own fails too."""
        if self.conn:
            self.conn.close()
        timeout = self.stop_timeout if timeout is None else timeout
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("vmsimd did not stop within %d s of SIGTERM" % timeout)
        rc = self.proc.returncode
        err = self.proc.stderr.read().decode()[-3000:]
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert rc == 0, "vmsimd exited %d: %s" % (rc, err)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
