"""`switchboard -t -c FILE`: the example configuration passes; an unknown
directive or a bad value fails with `FILE:LINE: reason` on stderr.

No servers are needed: -t only reads the file."""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EXAMPLE = os.path.join(harness.SRC, "config", "switchboard.conf.example")


class ConfigTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = harness.tempdir("config")
        with open(EXAMPLE) as f:
            cls.example = f.read().splitlines()
        cls.n = 0

    def write(self, lines):
        ConfigTest.n += 1
        path = os.path.join(self.dir, "case%d.conf" % ConfigTest.n)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def check(self, path):
        return harness.run_switchboard(["-t", "-c", path], timeout=60)

    def line_of(self, pattern, section=None):
        """1-based number of the first example line matching `pattern`,
        inside `section { ... }` if given."""
        inside = section is None
        for i, line in enumerate(self.example):
            if section is not None and re.match(r"^%s\s*\{" % section, line):
                inside = True
            if inside and re.match(pattern, line):
                return i + 1
        self.fail("no line /%s/ in the example" % pattern)

    def replace(self, pattern, new, section=None):
        """A copy of the example with one line replaced; returns (path,
        line number)."""
        n = self.line_of(pattern, section)
        lines = list(self.example)
        indent = re.match(r"^\s*", lines[n - 1]).group(0)
        lines[n - 1] = indent + new
        return self.write(lines), n

    def assert_fails_at(self, path, line, *words):
        r = self.check(path)
        self.assertNotEqual(r.returncode, 0, "accepted:\n" + r.stderr)
        self.assertGreater(r.returncode, 0, "died of a signal:\n" + r.stderr)
        self.assertIn("%s:%d:" % (path, line), r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)
        self.assertNotRegex(r.stderr, r"(AddressSanitizer|runtime error|"
                            r"LeakSanitizer)")

    def test_example_passes(self):
        r = self.check(EXAMPLE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_example_with_absolute_dirs_passes(self):
        path, _ = self.replace(r"^widget_dir\s*=",
                               'widget_dir = "%s/web-chat-widget"'
                               % harness.SRC)
        r = self.check(path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_empty_file_uses_defaults(self):
        r = self.check(self.write([]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_missing_file(self):
        path = os.path.join(self.dir, "does-not-exist.conf")
        r = self.check(path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(path, r.stderr)

    def test_unknown_directive_top_level(self):
        lines = list(self.example)
        lines.insert(20, "frobnicate_level = 3")
        path = self.write(lines)
        self.assert_fails_at(path, 21, "frobnicate_level")

    def test_unknown_directive_in_section(self):
        n = self.line_of(r"^\s*address\s*=", "redis")
        lines = list(self.example)
        lines.insert(n, "\tfrobnicate = \"yes\"")
        path = self.write(lines)
        self.assert_fails_at(path, n + 1, "frobnicate")

    def test_unknown_section(self):
        lines = list(self.example) + ["", "nosuchsection {", "\ta = 1", "}"]
        path = self.write(lines)
        self.assert_fails_at(path, len(self.example) + 2, "nosuchsection")

    def test_port_out_of_range(self):
        path, n = self.replace(r"^listen_port\s*=", "listen_port = 70000")
        self.assert_fails_at(path, n, "70000")

    def test_port_zero(self):
        path, n = self.replace(r"^\s*port\s*=", "port = 0", "redis")
        self.assert_fails_at(path, n)

    def test_log_level_loud(self):
        path, n = self.replace(r"^log_level\s*=", 'log_level = "loud"')
        self.assert_fails_at(path, n, "loud")

    def test_negative_timeouts(self):
        cases = (
            (r"^\s*timeout\s*=", "timeout = -1", "redis"),
            (r"^\s*connect_timeout\s*=", "connect_timeout = -5",
             "postgresql"),
            (r"^\s*query_timeout\s*=", "query_timeout = -1", "postgresql"),
            (r"^\s*shutdown_timeout\s*=", "shutdown_timeout = -1", "limits"),
        )
        for pattern, new, section in cases:
            with self.subTest(new=new):
                path, n = self.replace(pattern, new, section)
                self.assert_fails_at(path, n)

    def test_redis_address_hostname(self):
        for name in ("localhost", "redis.example.org"):
            with self.subTest(address=name):
                path, n = self.replace(r"^\s*address\s*=",
                                       'address = "%s"' % name, "redis")
                self.assert_fails_at(path, n, name)

    def test_redis_address_ip_and_socket_pass(self):
        for addr in ("::1", "10.1.2.3", "/run/redis/redis.sock"):
            with self.subTest(address=addr):
                path, _ = self.replace(r"^\s*address\s*=",
                                       'address = "%s"' % addr, "redis")
                r = self.check(path)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_listen_address_hostname(self):
        path, n = self.replace(r"^listen_address\s*=",
                               'listen_address = "localhost"')
        self.assert_fails_at(path, n, "localhost")

    def test_not_a_number(self):
        path, n = self.replace(r"^listen_port\s*=", 'listen_port = "http"')
        self.assert_fails_at(path, n)

    def test_syntax_error(self):
        lines = list(self.example)
        lines.insert(20, "listen_port = = 8080")
        path = self.write(lines)
        self.assert_fails_at(path, 21)

    def test_bad_log_format(self):
        path, n = self.replace(r"^log_format\s*=", 'log_format = "xml"')
        self.assert_fails_at(path, n, "xml")


    # The email section (channels/email/email_config.c).

    def email(self, *lines):
        """The example with an email { smtp { ... } } section appended;
        returns (path, the line of smtp's closing brace)."""
        body = list(self.example) + ["email {", "\tsmtp {"] + \
            ["\t\t" + x for x in lines] + ["\t}", "}"]
        return self.write(body), len(body) - 1

    def test_email_smtp_passes(self):
        path, _ = self.email('host = "smtp.example.org"',
                             'tls = "starttls"', 'user = "c@example.org"',
                             'password = "secret"', 'from = "c@example.org"')
        r = self.check(path)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_email_smtp_refusals(self):
        cases = [
            (['host = "smtp.example.org"', 'tls = "plain-local"',
              'from = "c@example.org"'], "loopback"),
            (['host = "127.0.0.1"', 'tls = "none"',
              'from = "c@example.org"'], "tls"),
            (['host = "smtp.example.org"', 'from = "not an address"'],
             "from"),
            (['from = "c@example.org"'], "host"),
            (['host = "smtp.example.org"', 'from = "c@example.org"',
              'password = "x"'], "user"),
            (['host = "smtp.example.org"', 'from = "c@example.org"',
              'user = "c"', 'password = "x"',
              'oauth_token_url = "https://login.example.org/token"',
              'oauth_client_id = "id"',
              'oauth_client_secret_file = "/etc/passwd"'], "not both"),
            (['host = "smtp.example.org"', 'from = "c@example.org"',
              'user = "c"', 'oauth_token_url = "http://example.org/token"',
              'oauth_client_id = "id"',
              'oauth_client_secret_file = "/etc/passwd"'], "https"),
            (['host = "smtp.example.org"', 'from = "c@example.org"',
              'user = "c"', 'password_file = "/nonexistent/secret"'],
             "does not exist"),
        ]
        for lines, word in cases:
            path, line = self.email(*lines)
            self.assert_fails_at(path, line, word)

    def mailbox(self, *lines, name="council"):
        """The example with email { mailbox NAME { ... } } appended;
        returns (path, the line of the mailbox's closing brace)."""
        body = list(self.example) + ["email {", "\tmailbox %s {" % name] + \
            ["\t\t" + x for x in lines] + ["\t}", "}"]
        return self.write(body), len(body) - 1

    MAILBOX = ['host = "imap.example.org"', 'user = "contact@example.org"',
               'password = "secret"', 'queue = "contact"']

    def test_email_mailbox_passes(self):
        for extra in ([], ['after_import = "move:Processed"',
                           'addresses = {"contact@example.org",'
                           ' "foi@example.org"}',
                           'acknowledge = false', 'type = "foi"',
                           'sweep = 300', 'lease = 10', 'tls = "starttls"',
                           'from = "tax@example.org"',
                           'from_name = "Council Tax"',
                           'reply_to = "tax@example.org"',
                           'signature = "Council Tax team\\nExample"']):
            path, _ = self.mailbox(*(self.MAILBOX + extra))
            r = self.check(path)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_email_mailbox_refusals(self):
        base = self.MAILBOX
        cases = [
            (base[1:], "host"),
            ([base[0], base[2], base[3]], "user"),
            ([base[0], base[1], base[3]], "password"),
            (base[:3], "queue"),
            (base + ['after_import = "delete"'], "after_import"),
            (base + ['after_import = "move:INBOX"'], "import each message"),
            (base + ['addresses = {"not an address"}'], "not an address"),
            ([base[0], 'user = "contact"', base[2], base[3]], "addresses"),
            (base + ['sweep = 1800'], "sweep"),
            (base + ['tls = "none"'], "tls"),
            (base + ['acknowledgement_file = "/etc/hostname"'],
             "{reference}"),
            (base + ['acknowledgement_file = "/nonexistent"'],
             "cannot be read"),
            (base + ['from = "Council Tax"'], "from and reply_to"),
            (base + ['signature = "%s"' % ("x" * 2001)], "signature"),
            (base + ['lease = 1'], "lease"),
            (base + ['oauth_token_url = "http://example.org/t"',
                     'oauth_client_id = "id"',
                     'oauth_client_secret_file = "/etc/hostname"'],
             "not both"),
        ]
        for lines, word in cases:
            path, line = self.mailbox(*lines)
            self.assert_fails_at(path, line, word)
        path, line = self.mailbox(*base, name="Council!")
        self.assert_fails_at(path, line, "name")

    # The sms section (channels/sms/sms_config.c).

    def sender(self, *lines, name="council", public=True):
        """The example with sms { sender NAME { ... } } appended; returns
        (path, the line of the sender's closing brace)."""
        body = list(self.example) + ["sms {"] + \
            (['\tpublic_url = "https://contact.example.org"']
             if public else []) + ["\tsender %s {" % name] + \
            ["\t\t" + x for x in lines] + ["\t}", "}"]
        return self.write(body), len(body) - 1

    NOTIFY = ['provider = "notify"', 'number = "07700 900123"',
              'queue = "contact"',
              'api_key = "live-26785a09-ab16-4eb0-8407-a37497a57506-'
              '3d844edf-8d35-48ac-975b-e847b4f122b0"',
              'template_id = "f33517ff-2a88-4f6e-b855-c550268ce08a"',
              'callback_token = "0123456789abcdef0123"']
    TWILIO = ['provider = "twilio"', 'number = "+447700900124"',
              'queue = "contact"',
              'account_sid = "AC0123456789abcdef0123456789abcdef"',
              'auth_token = "secret-token"']

    def test_sms_senders_pass(self):
        for lines in (self.NOTIFY, self.TWILIO,
                      self.NOTIFY + ['max_length = 918',
                                     'sms_sender_id = "f33517ff-2a88-4f6e-'
                                     'b855-c550268ce08a"',
                                     'callback_token_previous = '
                                     '"abcdef0123456789abcd"'],
                      self.TWILIO[:1] + ['number = "COUNCIL"'] +
                      self.TWILIO[2:] +
                      ['messaging_service_sid = '
                       '"MG0123456789abcdef0123456789abcdef"']):
            path, _ = self.sender(*lines)
            r = self.check(path)
            self.assertEqual(r.returncode, 0, (lines, r.stderr))

    def test_sms_sender_refusals(self):
        n, t = self.NOTIFY, self.TWILIO
        cases = [
            (['provider = "vonage"'] + n[1:], "provider"),
            (n[:1] + ['number = "not a number!"'] + n[2:], "number"),
            (n[:1] + ['number = "COUNCIL"'] + n[2:], "inbound number"),
            (n[:2] + n[3:], "queue"),
            (n[:3] + ['api_key = "just-a-secret"'] + n[4:], "api_key"),
            (n[:4] + ['template_id = "abc"'] + n[5:], "template_id"),
            (n[:5], "callback_token"),
            (n[:5] + ['callback_token = "short"'], "16 characters"),
            (n + ['max_length = 2000'], "max_length"),
            (n + ['base_url = "ftp://example.org"'], "base_url"),
            (t[:3] + ['account_sid = "AB123"'] + t[4:], "account_sid"),
            (t[:4], "auth_token"),
            (t + ['messaging_service_sid = "MGx"'], "messaging_service_sid"),
            (t + ['auth_token_file = "/nonexistent"'], "not both"),
        ]
        for lines, word in cases:
            path, line = self.sender(*lines)
            self.assert_fails_at(path, line, word)
        path, line = self.sender(*n, name="Council!")
        self.assert_fails_at(path, line, "name")
        path, _ = self.sender(*n, public=False)
        r = self.check(path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("public_url", r.stderr)

    # The voice section (channels/voice/voice_config.c): rules across
    # options are reported as FILE: voice: reason.

    def voice(self, *lines):
        return self.write(list(self.example) + ["voice {"] +
                          ["\t" + x for x in lines] + ["}"])

    def test_voice(self):
        ok = ['queue = "phones"', 'callback_queue = "callbacks"',
              'cti_secret = "0123456789abcdef0123"']
        for lines in (ok, ok + ['callback_by = "17:30"',
                                'public_url = "https://c.example.org"',
                                'twilio_auth_token = "tok"'], []):
            r = self.check(self.voice(*lines))
            self.assertEqual(r.returncode, 0, (lines, r.stderr))
        for lines, word in (
                (ok[:1] + ok[2:], "callback_queue"),
                (ok[:2], "cti_secret"),
                (ok[:2] + ['cti_secret = "short"'], "16 bytes"),
                (ok + ['callback_by = "5pm"'], "callback_by"),
                (ok + ['callback_within = 1'], "callback_within"),
                (ok + ['twilio_auth_token = "tok"'], "public_url")):
            r = self.check(self.voice(*lines))
            self.assertNotEqual(r.returncode, 0, lines)
            self.assertIn("voice: ", r.stderr)
            self.assertIn(word, r.stderr)


if __name__ == "__main__":
    harness.main()
