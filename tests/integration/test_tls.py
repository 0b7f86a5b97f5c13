"""TLS: HTTPS and WSS on the listen port with HSTS, and a renewed
certificate taking effect on SIGHUP without a restart."""

import os
import signal
import ssl
import subprocess
import sys
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def make_cert(dirname, cn):
    cert = os.path.join(dirname, "cert.pem")
    key = os.path.join(dirname, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=%s" % cn,
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key + ".tmp", "-out", cert + ".tmp"],
                   check=True, capture_output=True)
    os.replace(key + ".tmp", key)
    os.replace(cert + ".tmp", cert)
    return cert, key


def served_cn(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import socket
    with socket.create_connection(("127.0.0.1", port), 5) as raw:
        with ctx.wrap_socket(raw) as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                          "-subject"], input=der, capture_output=True,
                         check=True).stdout.decode()
    return out.strip().split("CN")[-1].strip(" =")


class TlsTest(harness.TestCase):
    def test_https_hsts_and_reload(self):
        pg = harness.Postgres()
        redis = harness.Redis()
        certdir = harness.tempdir("sb-tls")
        cert, key = make_cert(certdir, "first.switchboard.test")
        sb = harness.Switchboard(pg, redis, {
            "tls": {"certificate": cert, "key": key}},
            dbname=pg.createdb(), wait=False)
        url = "https://127.0.0.1:%d" % sb.port
        ctx = ssl.create_default_context(cafile=cert)

        def ready():
            try:
                with urllib.request.urlopen(url + "/readyz", context=ctx,
                                            timeout=2) as r:
                    return r.status == 200, r.headers
            except Exception:
                return False, None
        harness.wait_for(lambda: ready()[0], 30, what="HTTPS /readyz 200")
        headers = ready()[1]
        self.assertIn("max-age=", headers.get("Strict-Transport-Security"))
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        self.assertEqual(served_cn(sb.port), "first.switchboard.test")

        # Renew the certificate in place, then SIGHUP.
        make_cert(certdir, "second.switchboard.test")
        sb.signal(signal.SIGHUP)
        harness.wait_for(lambda: served_cn(sb.port) ==
                         "second.switchboard.test", 10,
                         what="renewed certificate served")
        sb.assert_alive()
        sb.signal(signal.SIGTERM)
        self.assertEqual(sb.wait(20), 0, sb.log_tail())


if __name__ == "__main__":
    harness.main()
