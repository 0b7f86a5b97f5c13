"""Integration test harness: real servers on loopback, standard library only.

Starts throwaway redis-server and PostgreSQL instances on free 127.0.0.1
ports, writes Switchboard configuration files, runs the daemon under test
(the binary named by $SWITCHBOARD_BIN) and talks HTTP and WebSocket to it.

Everything started here is stopped and every temporary directory removed
when the test process exits, whether the tests passed or not: through
atexit, and SIGTERM/SIGINT/SIGHUP are turned into a normal exit. Every
server also gets a parent-death signal (PR_SET_PDEATHSIG), so even a
SIGKILLed test run (a ctest timeout) leaves no process behind; only its
temporary directories (sb-it-*) stay.

PostgreSQL refuses to run as root: when the tests run as root, initdb and
the postmaster run as the `postgres` system user (setpriv), in directories
under the system temporary folder that belong to that user.
"""

import atexit
import base64
import ctypes
import glob
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("SWITCHBOARD_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))

# Per-test deadlines. Generous: the daemon under test is built with ASan.
START_TIMEOUT = 30.0
READY_TIMEOUT = 20.0


def switchboard_bin():
    """The daemon under test: $SWITCHBOARD_BIN, else a local build."""
    b = os.environ.get("SWITCHBOARD_BIN")
    if b:
        return b
    for cand in ("build-san/switchboard", "build/switchboard"):
        p = os.path.join(SRC, cand)
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("set SWITCHBOARD_BIN to the switchboard binary "
                       "(or build it in build/ or build-san/)")


# ------------------------------------------------------------ cleanup

_cleanups = []


def at_exit(fn, *args):
    """Runs fn(*args) when the process exits (last registered, first run)."""
    _cleanups.append((fn, args))


def _run_cleanups():
    while _cleanups:
        fn, args = _cleanups.pop()
        try:
            fn(*args)
        except Exception as e:  # keep cleaning up
            print("harness: cleanup %r failed: %s" % (fn, e), file=sys.stderr)


atexit.register(_run_cleanups)


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(_s, _exit_on_signal)


def _pdeathsig(sig=signal.SIGKILL):
    """preexec_fn: the child gets `sig` when the test process dies."""
    def child():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(sig))  # PR_SET_PDEATHSIG
        except Exception:
            pass
    return child


def tempdir(prefix):
    d = tempfile.mkdtemp(prefix="sb-it-%s-" % prefix)
    at_exit(shutil.rmtree, d, True)
    return d


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Polls predicate() until it returns a true value, which is returned.
    Raises AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except (OSError, http.client.HTTPException) as e:
            last = e
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.0fs waiting for %s "
                                     "(last: %r)" % (timeout, what, e))
        else:
            if last and not isinstance(last, Exception):
                return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s "
                                 "(last: %r)" % (timeout, what, last))
        time.sleep(interval)


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "(no log: %s)" % e
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


# ------------------------------------------------------------ Redis

class Redis:
    """A redis-server on 127.0.0.1, no persistence, files in a temp dir.
    restart() comes back on the same port."""

    def __init__(self, start=True):
        self.dir = tempdir("redis")
        self.port = free_port()
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None
        at_exit(self.kill)
        if start:
            self.start()

    @property
    def address(self):
        return "127.0.0.1"

    def start(self, timeout=10.0):
        assert not self.running(), "redis already running"
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1",
                 "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", self.dir,
                 "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                cwd=self.dir, preexec_fn=_pdeathsig())
        finally:
            logf.close()

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited:\n" + tail(self.log))
            return self.ping()
        wait_for(up, timeout, 0.05, "redis-server on port %d" % self.port)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Clean shutdown (SHUTDOWN NOSAVE), waits for the process."""
        if not self.running():
            return
        try:
            self.cli("SHUTDOWN", "NOSAVE")
        except subprocess.SubprocessError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """SIGKILL, as if the machine had lost it."""
        if self.running():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def cli(self, *args):
        """Runs redis-cli against this server; returns its stdout (str)."""
        r = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)] +
            [str(a) for a in args],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        return r.stdout.decode("utf-8", "replace").strip()


# ------------------------------------------------------------ PostgreSQL

def pg_bindir():
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    dirs = [d for d in dirs if os.access(os.path.join(d, "postgres"), os.X_OK)]
    if not dirs:
        raise RuntimeError("no PostgreSQL under /usr/lib/postgresql")

    def version(d):
        return [int(x) for x in re.findall(r"\d+", d.split("/")[-2])]
    return sorted(dirs, key=version)[-1]


def _as_pg_owner(pdeathsig=None):
    """Command prefix that runs a program as the cluster owner."""
    if os.geteuid() != 0:
        return []
    pw = pwd.getpwnam("postgres")
    # setpriv execs (no fork), so the pid we get is the program's own.
    # Changing uid clears the parent-death signal: setpriv sets it again.
    cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
           "--init-groups"]
    if pdeathsig:
        cmd.append("--pdeathsig=%s" % pdeathsig)
    return cmd + ["--"]


def _chown_pg(path):
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


_template = None


def _template_cluster():
    """initdb once per test process; each Postgres copies the result."""
    global _template
    if _template is None:
        base = tempdir("pgtemplate")
        _chown_pg(base)
        data = os.path.join(base, "data")
        r = subprocess.run(
            _as_pg_owner() + [os.path.join(pg_bindir(), "initdb"),
                              "-A", "trust", "-U", "switchboard",
                              "-E", "UTF8", "--locale=C.UTF-8",
                              "--no-sync", "-D", data],
            cwd="/", stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" +
                               (r.stdout + r.stderr).decode())
        _template = data
    return _template


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (TCP only, trust auth,
    superuser `switchboard`), with the server's defaults otherwise
    (fsync=on, synchronous_commit=on). restart() keeps data and port."""

    def __init__(self, start=True):
        self.bindir = pg_bindir()
        self.base = tempdir("pg")
        _chown_pg(self.base)
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "postgres.log")
        self.port = free_port()
        self.proc = None
        subprocess.run(["cp", "-a", _template_cluster(), self.data],
                       check=True)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# harness.py\nlisten_addresses = '127.0.0.1'\n"
                    "port = %d\nunix_socket_directories = ''\n"
                    "fsync = on\nsynchronous_commit = on\n" % self.port)
        at_exit(self._cleanup)
        if start:
            self.start()

    def conninfo(self, dbname="switchboard"):
        return ("hostaddr=127.0.0.1 port=%d dbname=%s user=switchboard"
                % (self.port, dbname))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=30.0):
        assert not self.running(), "postgres already running"
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                _as_pg_owner("SIGQUIT") +
                [os.path.join(self.bindir, "postgres"), "-D", self.data],
                cwd="/", stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                preexec_fn=_pdeathsig(signal.SIGQUIT))
        finally:
            logf.close()
        pidfile = os.path.join(self.data, "postmaster.pid")

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("postgres exited:\n" + tail(self.log))
            try:
                with open(pidfile) as f:
                    lines = f.read().splitlines()
            except OSError:
                return False
            # Line 1 is the pid, line 8 the status pg_ctl waits for.
            return (len(lines) >= 8 and lines[0].strip() == str(self.proc.pid)
                    and lines[7].strip() == "ready")
        wait_for(ready, timeout, 0.05, "postgres on port %d" % self.port)

    def stop(self, mode="fast"):
        """pg_ctl stop -m MODE (smart, fast or immediate); waits."""
        if not self.running():
            return
        subprocess.run(
            _as_pg_owner() + [os.path.join(self.bindir, "pg_ctl"),
                              "-D", self.data, "-m", mode, "-w", "-t", "60",
                              "stop"],
            cwd="/", stdin=subprocess.DEVNULL, capture_output=True)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self, mode="fast"):
        self.stop(mode)
        self.start()

    def _cleanup(self):
        if self.running():
            self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def psql(self, sql, dbname="switchboard", check=True):
        """Runs SQL with psql -At; returns stdout (str) stripped."""
        r = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t",
             "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "switchboard", "-d", dbname,
             "-c", sql],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("psql failed (%d): %s\n%s" % (
                r.returncode, sql, r.stderr.decode("utf-8", "replace")))
        return r.stdout.decode("utf-8", "replace").strip()

    def psql_file(self, path, dbname="switchboard"):
        r = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-q",
             "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "switchboard", "-d", dbname,
             "-f", path],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("psql -f %s failed:\n%s" % (
                path, r.stderr.decode("utf-8", "replace")))

    _dbs = 0

    def createdb(self, name=None):
        """Creates a database (a fresh unique name if none); returns it."""
        if name is None:
            Postgres._dbs += 1
            name = "sb_%d_%d" % (os.getpid(), Postgres._dbs)
        self.psql('CREATE DATABASE "%s"' % name, dbname="postgres")
        return name

    def tables(self, dbname="switchboard"):
        """{table: row count} for every table in the public schema."""
        names = self.psql("SELECT tablename FROM pg_tables WHERE "
                          "schemaname = 'public' ORDER BY 1",
                          dbname=dbname).split()
        out = {}
        for n in names:
            out[n] = int(self.psql('SELECT count(*) FROM "%s"' % n,
                                   dbname=dbname))
        return out


# ------------------------------------------------------------ config

def default_config(pg, redis, port, dbname="switchboard", widget_dir=None,
                   desk_dir=None):
    """The full configuration, every section, as nested dicts."""
    url = "http://127.0.0.1:%d" % port
    return {
        "listen_address": "127.0.0.1",
        "listen_port": port,
        "public_url": url,
        "log_level": "info",
        "log_format": "kv",
        "widget_dir": widget_dir or os.path.join(SRC, "web-chat-widget"),
        "desk_dir": desk_dir or os.path.join(SRC, "advisor-desk"),
        "allowed_origins": [],
        "frame_ancestors": "'self'",
        "trusted_proxies": [],
        "tls": {"certificate": "", "key": ""},
        "postgresql": {
            "conninfo": pg.conninfo(dbname) if pg else
            "hostaddr=127.0.0.1 port=1 dbname=switchboard user=switchboard",
            "connect_timeout": 2,
            "query_timeout": 15,
            "commit_batch_max": 256,
            "migrate_on_start": True,
        },
        "redis": {
            "address": "127.0.0.1",
            "port": redis.port if redis else 1,
            "password": "",
            "database": 0,
            "timeout": 1,
        },
        "limits": {
            "max_connections": 1000,
            "http_body_max": 1048576,
            "ws_message_max": 65536,
            "shutdown_timeout": 5,
            "worker_threads": 2,
        },
    }


def merge(base, overrides):
    """Deep merge of dicts; returns a new dict."""
    out = dict(base)
    for k, v in (overrides or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _confuse_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_confuse_value(x) for x in v) + "}"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return '"%s"' % s


def render_config(cfg, indent=""):
    """libconfuse text for a dict made by default_config()."""
    lines = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines.append("%s%s {" % (indent, k))
            lines.append(render_config(v, indent + "\t").rstrip("\n"))
            lines.append("%s}" % indent)
        else:
            lines.append("%s%s = %s" % (indent, k, _confuse_value(v)))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ Switchboard

def clean_env(extra=None):
    env = dict(os.environ)
    for k in ("SWITCHBOARD_PG_URL", "SWITCHBOARD_PG_URL_FILE",
              "SWITCHBOARD_REDIS_PASSWORD", "SWITCHBOARD_REDIS_PASSWORD_FILE"):
        env.pop(k, None)
    env.update(extra or {})
    return env


def run_switchboard(args, timeout=120, cwd=None, env=None):
    """Runs the binary to completion: CompletedProcess with str output."""
    return subprocess.run([switchboard_bin()] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd or SRC,
                          env=clean_env(env))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __iter__(self):  # status, headers, body = sb.get(...)
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Switchboard:
    """The daemon under test with its own config file and log.

    overrides: merged into default_config(); dbname: database in `pg`.
    The log (stderr and stdout) is kept in self.log."""

    instances = []

    def __init__(self, pg, redis, overrides=None, dbname="switchboard",
                 start=True, wait=True, env=None):
        self.dir = tempdir("sb")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "switchboard.conf")
        self.log = os.path.join(self.dir, "switchboard.log")
        self.env = env
        self.proc = None
        self.config = merge(default_config(pg, redis, self.port, dbname),
                            overrides)
        self.write_config()
        Switchboard.instances.append(self)
        at_exit(self.kill)
        if start:
            self.start(wait=wait)

    @property
    def public_url(self):
        return self.config["public_url"]

    def write_config(self, overrides=None):
        if overrides:
            self.config = merge(self.config, overrides)
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(render_config(self.config))
        os.replace(tmp, self.conf)

    def start(self, wait=True):
        assert not self.running(), "already running"
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [switchboard_bin(), "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                cwd=SRC, env=clean_env(self.env), preexec_fn=_pdeathsig())
        finally:
            logf.close()
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout=START_TIMEOUT):
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(
                    "switchboard exited with %d before /healthz answered:\n%s"
                    % (self.proc.returncode, self.log_tail()))
            return self.get("/healthz", timeout=2).status == 200
        try:
            wait_for(healthy, timeout, 0.05, "/healthz")
        except AssertionError as e:
            if "exited" in str(e):
                raise
            raise AssertionError("%s\n--- log ---\n%s" % (e, self.log_tail()))

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Polls /readyz until 200; returns the response."""
        return self.wait_status("/readyz", 200, timeout)

    def wait_status(self, path, status, timeout=READY_TIMEOUT):
        last = [None]

        def check():
            self.assert_alive()
            r = self.get(path, timeout=3)
            last[0] = r
            return r if r.status == status else None
        try:
            return wait_for(check, timeout, 0.1,
                            "%s to answer %d" % (path, status))
        except AssertionError as e:
            raise AssertionError("%s (last response: %r)\n--- log ---\n%s"
                                 % (e, last[0], self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.running():
            raise AssertionError("switchboard exited with %s:\n%s"
                                 % (self.proc.returncode if self.proc
                                    else None, self.log_tail()))

    def request(self, method, path, headers=None, body=None, timeout=5):
        """One HTTP/1.1 request on a new connection. `path` is sent as
        given (no normalisation). Returns a Response."""
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            if body is not None:
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            data = r.read()
            hdrs = {}
            for k, v in r.getheaders():
                k = k.lower()
                hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
            return Response(r.status, hdrs, data)
        finally:
            c.close()

    def get(self, path, headers=None, timeout=5):
        return self.request("GET", path, headers, timeout=timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        """Waits for the process to exit; returns its exit code (negative
        for a signal). Raises AssertionError with the log on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("switchboard still running after %ss:\n%s"
                                 % (timeout, self.log_tail()))

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.running():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return tail(self.log, lines)

    def wait_log(self, pattern, timeout=READY_TIMEOUT, start=0):
        """Waits until the log (from byte offset `start`) matches the
        regular expression; returns the match."""
        rx = re.compile(pattern, re.M | re.I)

        def seen():
            return rx.search(self.log_text()[start:])
        try:
            return wait_for(seen, timeout, 0.1, "log line /%s/" % pattern)
        except AssertionError as e:
            raise AssertionError("%s\n--- log ---\n%s"
                                 % (e, self.log_tail()))

    def websocket(self, path="/ws", origin=None, protocol="switchboard.v1",
                  timeout=10, headers=None, rcvbuf=None):
        return WebSocket(self.port, path,
                         origin if origin is not None else self.public_url,
                         protocol, timeout, headers, rcvbuf)


# ------------------------------------------------------------ WebSocket

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocketError(Exception):
    pass


class WebSocket:
    """A minimal RFC 6455 client: handshake, masked frames out, frames in.

    Raises WebSocketError if the server does not answer 101 with a valid
    Sec-WebSocket-Accept; self.status/self.headers hold its answer."""

    def __init__(self, port, path, origin, protocol, timeout=10,
                 headers=None, rcvbuf=None):
        if rcvbuf is None:
            self.sock = socket.create_connection(("127.0.0.1", port),
                                                 timeout)
        else:
            # A small receive window, set before connecting: a client
            # on a slow link, which the server can only trickle to.
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        req = ["GET %s HTTP/1.1" % path,
               "Host: 127.0.0.1:%d" % port,
               "Upgrade: websocket",
               "Connection: Upgrade",
               "Sec-WebSocket-Key: %s" % key.decode(),
               "Sec-WebSocket-Version: 13"]
        if origin:
            req.append("Origin: %s" % origin)
        if protocol:
            req.append("Sec-WebSocket-Protocol: %s" % protocol)
        for k, v in (headers or {}).items():
            req.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WebSocketError("connection closed during handshake: %r"
                                     % self.buf)
            self.buf += chunk
            if len(self.buf) > 65536:
                raise WebSocketError("handshake answer too long")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3})", lines[0])
        self.status = int(m.group(1)) if m else 0
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            self.sock.close()
            raise WebSocketError("handshake answered %r" % lines[0])
        want = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
        if self.headers.get("sec-websocket-accept", "").encode() != want:
            self.sock.close()
            raise WebSocketError("bad Sec-WebSocket-Accept")
        self.protocol = self.headers.get("sec-websocket-protocol")

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload=b"", fin=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(0x1, text.encode("utf-8"))

    def send_close(self, code=1000, reason=b""):
        self.send_frame(0x8, struct.pack("!H", code) + reason)

    def recv_frame(self, timeout=None):
        """Returns (fin, opcode, payload) of the next frame."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        b0, b1 = self._recv_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._recv_exact(8))[0]
        mask = self._recv_exact(4) if b1 & 0x80 else None
        payload = self._recv_exact(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self, timeout=10):
        """Next data message as (opcode, payload); answers pings; returns
        (8, payload) for a close frame."""
        data, op = b"", None
        while True:
            fin, opcode, payload = self.recv_frame(timeout)
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                return 0x8, payload
            if opcode != 0:
                op = opcode
            data += payload
            if fin:
                return op, data

    def recv_close(self, timeout=30):
        """Reads until a close frame; returns (code, reason). code is None
        for a close frame without a body. Raises EOFError if the connection
        ends without one."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no close frame within %ss" % timeout)
            op, payload = self.recv_message(left)
            if op == 0x8:
                try:
                    self.send_frame(0x8, payload[:2])
                except OSError:
                    pass
                if len(payload) >= 2:
                    return (struct.unpack("!H", payload[:2])[0],
                            payload[2:].decode("utf-8", "replace"))
                return None, ""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class JsonSocket:
    """A test's end of a JSON-over-WebSocket protocol: messages skipped
    while waiting for one are kept for the next wait, in order."""

    def __init__(self, test, ws):
        self.test = test
        self.ws = ws
        test.addCleanup(ws.close)
        self.pending = []

    def next(self, timeout=10):
        if self.pending:
            return self.pending.pop(0)
        op, payload = self.ws.recv_message(timeout)
        self.test.assertEqual(op, 1, payload)
        return json.loads(payload)

    def send(self, **msg):
        self.ws.send_text(json.dumps(msg))

    def wait_for(self, type_, timeout=10, **match):
        """The next message of type_ whose fields equal match (compared
        as text)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while time.monotonic() < deadline:
            try:
                m = self.next(max(0.1, deadline - time.monotonic()))
            except socket.timeout:
                break
            if m.get("type") == type_ and all(
                    str(m.get(k)) == str(v) for k, v in match.items()):
                self.pending = skipped + self.pending
                return m
            skipped.append(m)
        self.pending = skipped + self.pending
        self.test.fail("no %s %r within %ss; got %r" % (type_, match,
                                                        timeout, skipped))


# ------------------------------------------------------------ unittest glue

class TestCase(unittest.TestCase):
    """unittest.TestCase that prints the log tail of every daemon started
    during a test that failed."""

    def run(self, result=None):
        before = len(Switchboard.instances)
        nbad = (len(result.failures) + len(result.errors)) if result else 0
        result = super().run(result)
        if result is not None and \
                len(result.failures) + len(result.errors) > nbad:
            # Those started by this test, and shared ones still running.
            for i, sb in enumerate(Switchboard.instances):
                if i < before and not sb.running():
                    continue
                sys.stderr.write("\n--- %s: log of switchboard on port %d "
                                 "---\n%s\n" % (self.id(), sb.port,
                                                sb.log_tail(80)))
        return result


def main():
    unittest.main(verbosity=2)


# ------------------------------------------------------------ mail servers

def lib_sh(*args, **kw):
    """Runs a contrib/lib.sh function: lib_sh("sb_test_ca", dir)."""
    return subprocess.run(
        ["bash", "-c", '. "$0/contrib/lib.sh"; "$@"', SRC] + list(args),
        check=True, **kw)


class Dovecot:
    """Debian's Dovecot over implicit TLS on a free loopback port, with a
    test CA (ca.pem in its directory) and one mailbox user; started by
    contrib/lib.sh sb_dovecot_start (introspect: an OAuth 2.0
    introspection URL for XOAUTH2 sign-in)."""

    def __init__(self, user="council", password=None, introspect=None,
                 starttls=False):
        self.dir = tempdir("dovecot")
        self.port = free_port()
        # Plain IMAP too, where STARTTLS is required before signing in.
        self.starttls_port = free_port() if starttls else 0
        self.user = user
        self.password = password or os.urandom(8).hex()
        self.ca = os.path.join(self.dir, "ca.pem")
        lib_sh("sb_dovecot_start", self.dir, str(self.port), user,
               self.password, introspect or "", str(self.starttls_port),
               stdout=subprocess.DEVNULL)
        at_exit(self.stop)

    def stop(self):
        lib_sh("sb_dovecot_stop", self.dir)

    def deliver(self, raw, sender=None, folder=None):
        """Delivers raw (bytes) to the user's INBOX with dovecot-lda, or
        saves it into folder (created if need be) with doveadm save."""
        if folder is not None:
            subprocess.run(
                ["doveadm", "-c", os.path.join(self.dir, "dovecot.conf"),
                 "mailbox", "create", "-u", self.user, folder],
                capture_output=True)
            subprocess.run(
                ["doveadm", "-c", os.path.join(self.dir, "dovecot.conf"),
                 "save", "-u", self.user, "-m", folder], input=raw,
                check=True, capture_output=True)
            return
        args = [self.dir, self.user] + ([sender] if sender else [])
        lib_sh("sb_dovecot_deliver", *args, input=raw)

    def doveadm(self, *args):
        """doveadm's output (text); raises on failure."""
        return subprocess.run(
            ["doveadm", "-c", os.path.join(self.dir, "dovecot.conf")] +
            list(args), check=True, capture_output=True, text=True).stdout

    def count(self, query):
        """How many of the user's messages match a doveadm search query."""
        out = self.doveadm("search", "-u", self.user, *query.split())
        return len([x for x in out.splitlines() if x.strip()])


class SmtpServer:
    """tests/unit/email/smtp_server.py (aiosmtpd, Debian's Python) on
    three loopback ports (implicit TLS, STARTTLS, plain) with the test CA
    in d: every message taken is written as JSON under d/out."""

    def __init__(self, d, user, password, token="tok"):
        self.dir = d
        self.out = os.path.join(d, "out")
        os.makedirs(self.out, exist_ok=True)
        self.ports = [free_port() for _ in range(3)]
        self.args = [user, password, token]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3",
             os.path.join(SRC, "tests/unit/email/smtp_server.py"),
             self.out, os.path.join(self.dir, "server.pem"),
             os.path.join(self.dir, "server.key")] + self.args +
            [str(p) for p in self.ports],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        assert line.startswith(b"ready"), line
        at_exit(self.stop)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def taken(self):
        out = []
        for name in sorted(os.listdir(self.out)):
            if name.endswith(".json"):
                with open(os.path.join(self.out, name)) as f:
                    out.append(json.load(f))
        return out


# ------------------------------------------------------------ SMS providers

class ProviderServer:
    """tests/integration/provider_server.py: a contract server standing in
    for GOV.UK Notify's and Twilio's REST APIs over HTTPS on a free loopback
    port, with the test CA in d (ca.pem). It checks every request exactly and
    records it; tests script its answers (behave) and read what it took.
    Credentials are random per run:
      notify_service_id, notify_secret, notify_api_key (the key string as
      Notify issues it: name-{service_id}-{secret}), twilio_sid,
      twilio_token.
    url is https://127.0.0.1:PORT (the base URL for both providers)."""

    def __init__(self, d, start=True):
        import secrets
        import uuid
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        self.notify_service_id = str(uuid.uuid4())
        self.notify_secret = str(uuid.uuid4())
        self.notify_api_key = "switchboard_test-%s-%s" % (
            self.notify_service_id, self.notify_secret)
        self.twilio_sid = "AC" + secrets.token_hex(16)
        self.twilio_token = secrets.token_hex(16)
        self.port = None
        self.url = None
        self.proc = None
        if start:
            self.start()

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            return
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump({"notify": [{"service_id": self.notify_service_id,
                                   "secret": self.notify_secret}],
                       "twilio": [{"account_sid": self.twilio_sid,
                                   "auth_token": self.twilio_token}]}, f)
        lib_sh("sb_test_ca", self.dir)
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(
            ["/usr/bin/python3",
             os.path.join(SRC, "tests/integration/provider_server.py"),
             self.dir, str(self.port)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig())
        line = self.proc.stdout.readline()
        assert line.startswith(b"ready"), line
        at_exit(self.stop)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None:
            self.proc.stdout.close()
        self.proc = None

    def _control(self, method, path, obj=None):
        import ssl
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=10,
            context=ssl.create_default_context(cafile=self.ca))
        try:
            body = json.dumps(obj).encode() if obj is not None else None
            conn.request(method, "/_control/" + path, body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise AssertionError("provider server: %s %s: %d %s" % (
                    method, path, r.status, data[:200]))
            return json.loads(data)
        finally:
            conn.close()

    def behave(self, to, steps):
        """The next well-formed requests sending to `to` take `steps`."""
        self._control("POST", "behave", {"to": to, "respond": list(steps)})

    def set_status(self, notification_id, status):
        """What a Notify lookup of that notification shows as its status."""
        self._control("POST", "status", {"id": notification_id,
                                         "status": status})

    def requests(self):
        return self._control("GET", "requests")

    def messages(self):
        return self._control("GET", "messages")

    def reset(self):
        self._control("POST", "reset")

    def wait_messages(self, n, timeout=READY_TIMEOUT):
        """The accepted messages once there are at least n."""
        return wait_for(lambda: (lambda m: m if len(m) >= n else None)(
            self.messages()), timeout, what="%d provider messages" % n)


def twilio_signature(token, url, params):
    """X-Twilio-Signature for a form POST to url: params is a list of
    (name, value) pairs (decoded); names in byte order, a repeated name's
    values in byte order (providers.md)."""
    def b(s):
        return s.encode() if isinstance(s, str) else s
    msg = b(url) + b"".join(b(n) + b(v) for n, v in
                            sorted((b(n), b(v)) for n, v in params))
    import hmac
    return base64.b64encode(hmac.new(b(token), msg, hashlib.sha1)
                            .digest()).decode()


def switchboard_signature(secret, ts, body):
    """X-Switchboard-Signature for our signed webhooks: sha256= and the hex
    HMAC-SHA256(secret, "<ts>." + body) (providers.md, last section)."""
    import hmac
    if isinstance(secret, str):
        secret = secret.encode()
    if isinstance(body, str):
        body = body.encode()
    return "sha256=" + hmac.new(secret, str(ts).encode() + b"." + body,
                                hashlib.sha256).hexdigest()
