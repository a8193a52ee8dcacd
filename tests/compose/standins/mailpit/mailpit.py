#!/usr/bin/python3
"""The part of Mailpit the stack uses: accept mail on 1025, list it on 8025.

``/mailpit`` serves; ``/mailpit readyz`` exits 0 when the server answers.
"""

import json
import sys
import threading
import time
import urllib.request
import uuid
from email import message_from_bytes, policy
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES: list[dict[str, object]] = []
LOCK = threading.Lock()


class Store:
    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        mail = message_from_bytes(envelope.original_content, policy=policy.default)
        with LOCK:
            MESSAGES.insert(
                0,
                {
                    "ID": uuid.uuid4().hex,
                    "MessageID": str(mail.get("Message-ID", "")).strip("<>"),
                    "From": {"Address": envelope.mail_from},
                    "To": [
                        {"Name": n, "Address": a} for n, a in getaddresses(mail.get_all("To", []))
                    ],
                    "Subject": str(mail.get("Subject", "")),
                    "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "Size": len(envelope.original_content),
                },
            )
        return "250 OK"


class Api(BaseHTTPRequestHandler):
    def do_GET(self):  # http.server calls it by this name
        if self.path == "/readyz":
            self.reply(200, b"ok", "text/plain")
        elif self.path.startswith("/api/v1/messages"):
            with LOCK:
                body = {"total": len(MESSAGES), "count": len(MESSAGES), "messages": list(MESSAGES)}
            self.reply(200, json.dumps(body).encode(), "application/json")
        else:
            self.reply(404, b"not found", "text/plain")

    def reply(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    if sys.argv[1:] == ["readyz"]:
        try:
            with urllib.request.urlopen("http://127.0.0.1:8025/readyz", timeout=3) as r:
                sys.exit(0 if r.status == 200 else 1)
        except OSError:
            sys.exit(1)
    smtp = Controller(Store(), hostname="0.0.0.0", port=1025, data_size_limit=0)
    smtp.start()
    print("mailpit stand-in: smtp :1025, http :8025", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()


if __name__ == "__main__":
    main()
