"""One SMTP client session (RFC 5321) on asyncio streams, with PIPELINING (RFC 2920).

Where the server offers PIPELINING, a message costs two round trips instead of four:
MAIL, RCPT and DATA leave in one write and their replies are read in order, then the
message and its final dot. aiosmtplib cannot do that (its protocol reads one reply per
command it writes), and a notification worker sends little else than such messages.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import socket
import ssl
from dataclasses import dataclass

# RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; a server's list of
# extensions is short. Anything far longer is not an SMTP server.
_LINE_LIMIT = 4096
_REPLY_LINES = 200


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400


class SmtpReplyError(Exception):
    """The server refused a command (``code`` 4yz: try later; 5yz: never)."""

    def __init__(self, reply: Reply, *, refused: tuple[str, ...] = ()) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply
        self.refused = refused  # the recipients it refused, when that is what it refused


class SmtpProtocolError(Exception):
    """The server said something that is not an SMTP reply, or closed the connection."""


class SessionLost(SmtpProtocolError):
    """The session broke before any of the message was sent: sending it again on
    another connection cannot deliver it twice."""


class OutcomeUnknown(SmtpProtocolError):
    """The whole message went, and no reply to its final dot came: the relay may have
    taken it. Another attempt may deliver it twice (RFC 1047)."""


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How a session opens: TLS, credentials and what it says in EHLO."""

    context: ssl.SSLContext
    implicit_tls: bool = False
    starttls: bool = False
    login: tuple[str, str] | None = None
    # RFC 5321 §4.5.3.2: a client waits at least 5 minutes for most replies and 10 for
    # the one to the final dot; ``seconds`` is the shorter wait Herald allows the rest.
    seconds: float = 10.0
    data_seconds: float = 600.0
    # Credentials go over an encrypted session only, unless the URL says otherwise.
    insecure_auth: bool = False
    ehlo_name: str | None = None


class SmtpSession:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, options: SessionOptions
    ) -> None:
        self._reader, self._writer, self._options = reader, writer, options
        self._seconds = options.seconds
        self.extensions: dict[str, str] = {}
        self.encrypted = options.implicit_tls

    @classmethod
    async def open(cls, host: str, port: int, options: SessionOptions) -> SmtpSession:
        tls = options.context if options.implicit_tls else None
        async with asyncio.timeout(options.seconds):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, limit=_LINE_LIMIT
            )
        session = cls(reader, writer, options)
        try:
            _expect(await session._read())
            await session._greet()
            offered = "STARTTLS" in session.extensions
            if options.starttls or (options.login and offered and not session.encrypted):
                await session._starttls(host)
            if options.login is not None:
                if not (session.encrypted or options.insecure_auth):
                    raise SmtpProtocolError(
                        "refusing to send SMTP credentials without TLS: the relay offers no"
                        " STARTTLS (use smtps://, or add ?insecure_auth=true to the URL)"
                    )
                await session._login(*options.login)
        except BaseException:
            session.abort()
            raise
        return session

    async def _starttls(self, host: str) -> None:
        if "STARTTLS" not in self.extensions:
            raise SmtpProtocolError("the server does not offer STARTTLS")
        _expect(await self.command(b"STARTTLS"))
        # Whatever came after the 220 was sent in the clear and would be read as if the
        # TLS server had said it (CVE-2011-0411): a server that does this is not trusted.
        if getattr(self._reader, "_buffer", b""):
            raise SmtpProtocolError("the server sent more after its reply to STARTTLS")
        async with asyncio.timeout(self._seconds):
            await self._writer.start_tls(self._options.context, server_hostname=host)
        self.encrypted = True
        await self._greet()  # RFC 3207 §4.2: forget what was said before TLS

    @property
    def usable(self) -> bool:
        return not self._writer.is_closing() and not self._reader.at_eof()

    async def send(self, sender: str, recipients: tuple[str, ...], data: bytes) -> str:
        """Deliver one message and return the server's reply to it ("250 2.0.0 Ok: queued
        as …"); raises SmtpReplyError when the server refuses it."""
        utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
        if utf8 and "SMTPUTF8" not in self.extensions:
            raise SmtpReplyError(Reply(553, "the address needs SMTPUTF8, not offered here"))
        mail = b"MAIL FROM:" + _path(sender) + (b" SMTPUTF8" if utf8 else b"")
        envelope = [mail, *(b"RCPT TO:" + _path(r) for r in recipients), b"DATA"]
        try:
            replies = await self._envelope(envelope)
        except (
            SmtpProtocolError,
            OSError,
        ) as exc:  # a server takes no message without DATA's content
            raise SessionLost(str(exc)) from exc
        await self._refused_or_data(recipients, replies)
        self._writer.write(_terminated(data))
        try:
            reply = await self._read(self._options.data_seconds)
        except (TimeoutError, SmtpProtocolError, OSError) as exc:
            raise OutcomeUnknown(
                f"no reply to the end of the message ({exc or type(exc).__name__});"
                " the relay may have accepted it"
            ) from exc
        if reply.code != 250:
            raise SmtpReplyError(reply)
        return f"{reply.code} {reply.text}".replace("\n", " ")[:500]

    async def _envelope(self, envelope: list[bytes]) -> list[Reply]:
        if "PIPELINING" in self.extensions:
            self._writer.write(b"".join(line + b"\r\n" for line in envelope))
            return [await self._read() for _ in envelope]
        replies: list[Reply] = []
        for line in envelope:
            replies.append(await self.command(line))
            if not replies[-1].ok:
                break
        return replies

    async def _refused_or_data(self, recipients: tuple[str, ...], replies: list[Reply]) -> None:
        """Return when the envelope was taken and DATA said 354, else raise. A refusal
        that comes with a 354 all the same first ends the empty message that opened
        (RFC 2920 §3.1), so that the session stays usable."""
        data = replies[-1] if len(replies) == len(recipients) + 2 else None
        if data is not None and data.code == 354:
            if all(r.ok for r in replies):
                return
            self._writer.write(b".\r\n")
            await self._read()
        mail, rcpts = replies[0], replies[1 : len(recipients) + 1]
        if not mail.ok:
            raise SmtpReplyError(mail)
        refused = [(r, reply) for r, reply in zip(recipients, rcpts, strict=False) if not reply.ok]
        if refused:
            worst = max((reply for _, reply in refused), key=lambda reply: reply.code)
            raise SmtpReplyError(worst, refused=tuple(r for r, _ in refused))
        raise SmtpReplyError(replies[-1])

    async def reset(self) -> None:
        _expect(await self.command(b"RSET"))

    async def quit(self) -> None:
        try:
            await self.command(b"QUIT")
        finally:
            self.abort()

    def abort(self) -> None:
        self._writer.close()

    async def command(self, line: bytes) -> Reply:
        self._writer.write(line + b"\r\n")
        return await self._read()

    async def _greet(self) -> None:
        """EHLO, or HELO where the server does not know EHLO (RFC 5321 §3.2)."""
        name = (self._options.ehlo_name or _local_name()).encode("ascii")
        self.extensions = {}
        reply = await self.command(b"EHLO " + name)
        if reply.code in (500, 502, 504, 550):
            _expect(await self.command(b"HELO " + name))
            return
        _expect(reply)
        for line in reply.text.split("\n")[1:]:
            keyword, _, parameters = line.partition(" ")
            self.extensions[keyword.upper()] = parameters

    async def _login(self, user: str, password: str) -> None:
        methods = self.extensions.get("AUTH", "").upper().split()
        if "PLAIN" in methods:
            token = base64.b64encode(f"\0{user}\0{password}".encode())
            reply = await self.command(b"AUTH PLAIN " + token)
        elif "LOGIN" in methods:
            for step in (b"AUTH LOGIN", base64.b64encode(user.encode())):
                challenge = await self.command(step)
                if challenge.code != 334:
                    raise SmtpReplyError(challenge)
            reply = await self.command(base64.b64encode(password.encode()))
        else:
            raise SmtpProtocolError("the server offers neither AUTH PLAIN nor AUTH LOGIN")
        if reply.code != 235:
            raise SmtpReplyError(reply)

    async def _read(self, seconds: float | None = None) -> Reply:
        """One reply, all its lines; its text keeps them apart with newlines."""
        lines: list[str] = []
        async with asyncio.timeout(seconds or self._seconds):
            while len(lines) < _REPLY_LINES:
                try:
                    raw = await self._reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    raise SmtpProtocolError("the server closed the connection") from exc
                except asyncio.LimitOverrunError as exc:
                    raise SmtpProtocolError("the server sent an over-long line") from exc
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                code = line[:3]
                if not code.isdigit() or line[3:4] not in ("", " ", "-"):
                    raise SmtpProtocolError(f"not an SMTP reply: {line[:80]!r}")
                lines.append(line[4:])
                if line[3:4] != "-":
                    return Reply(int(code), "\n".join(lines))
        raise SmtpProtocolError("the server's reply does not end")


def _expect(reply: Reply) -> None:
    if not reply.ok:
        raise SmtpReplyError(reply)


def _path(address: str) -> bytes:
    # An address with a line break or angle brackets would end the command early and
    # start one of someone else's choosing.
    if any(c in address for c in "\r\n<>") or not address:
        raise SmtpReplyError(Reply(553, f"the address {address!r} cannot be sent to"))
    return b"<" + address.encode("utf-8") + b">"


def _terminated(data: bytes) -> bytes:
    """The message as DATA sends it: every line ending in CRLF (RFC 5321 §2.3.8 forbids
    a bare CR or LF, and relays refuse them), every line that starts with a dot doubled
    (§4.5.2), then CRLF.CRLF."""
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:  # rare: Herald writes CRLF
        data = _LINE_END.sub(b"\r\n", data)
    body = data.replace(b"\r\n.", b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


_LINE_END = re.compile(rb"\r\n|\r|\n")


@functools.cache
def _local_name() -> str:
    """What EHLO calls this host: its name, without a DNS look-up per connection."""
    name = socket.gethostname()
    return name if name and name.isascii() and " " not in name else "[127.0.0.1]"
