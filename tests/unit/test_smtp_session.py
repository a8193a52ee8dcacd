"""The SMTP transport on the wire, against a scripted server on loopback that records
every read: what pipelining sends together, dot-stuffing, and the replies and breakages
a relay can throw at it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from herald.adapters.email.smtp import SmtpTransport
from herald.domain.errors import DeliveryError
from herald.ports import OutgoingEmail
from tests.smtp import self_signed_context


class ScriptedRelay:
    """Answers 250 to everything, 354 to DATA, unless ``replies`` says otherwise for a
    command's verb (or ``BODY``, the end of a message: empty, it hangs up instead);
    ``silent`` never answers after the greeting."""

    def __init__(self, *, pipelining: bool) -> None:
        self.pipelining = pipelining
        self.replies: dict[bytes, bytes] = {}
        self.greeting = b"220 scripted\r\n"
        # Offers STARTTLS with this server context; ``injected`` follows its 220 in the
        # clear, as a man in the middle would add it.
        self.tls: ssl.SSLContext | None = None
        self.injected = b""
        self.silent = False
        self.delay_final = 0.0
        self.reads: list[bytes] = []
        self.messages: list[bytes] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"smtp://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        self.drop_connections()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def drop_connections(self) -> None:
        for writer in self._open:
            writer.close()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.append(writer)
        writer.write(self.greeting)
        pending = b""
        while chunk := await reader.read(65536):
            self.reads.append(chunk)
            pending += chunk
            while b"\r\n" in pending and not self.silent:
                if pending.startswith(b"\x00DATA"):  # inside a message
                    end = pending.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    self.messages.append(pending[7:end])
                    pending = pending[end + 5 :]
                    reply = self.replies.get(b"BODY", b"250 queued\r\n")
                    await asyncio.sleep(self.delay_final)
                    if not reply:  # took the message, then went away without a word
                        writer.close()
                        return
                    writer.write(reply)
                    continue
                line, pending = pending.split(b"\r\n", 1)
                verb = line[:4].upper()
                if verb == b"EHLO" and verb not in self.replies:
                    offer = b"250-PIPELINING\r\n" if self.pipelining else b""
                    offer += b"250-STARTTLS\r\n" if self.tls else b""
                    offer += b"250-AUTH PLAIN\r\n"
                    writer.write(b"250-scripted\r\n" + offer + b"250 8BITMIME\r\n")
                elif verb == b"STAR" and self.tls is not None:
                    writer.write(b"220 ready for TLS\r\n" + self.injected)
                    await writer.drain()
                    await writer.start_tls(self.tls)
                elif verb == b"DATA":
                    reply = self.replies.get(b"DATA", b"354 go ahead\r\n")
                    writer.write(reply)
                    if reply.startswith(b"354"):
                        pending = b"\x00DATA\r\n" + pending
                else:
                    ok = b"235 2.7.0 welcome\r\n" if verb == b"AUTH" else b"250 OK\r\n"
                    writer.write(self.replies.get(verb, ok))
        writer.close()


@pytest_asyncio.fixture(params=[True, False], ids=["pipelining", "one at a time"])
async def relay(request: pytest.FixtureRequest) -> AsyncIterator[ScriptedRelay]:
    server = ScriptedRelay(pipelining=request.param)
    await server.start()
    yield server
    await server.stop()


def mail(data: bytes = b"Subject: hi\r\n\r\nhello\r\n") -> OutgoingEmail:
    return OutgoingEmail("herald@example.com", ("ada@example.com",), data)


class TestSmtpOnTheWire:
    async def test_pipelining_sends_the_envelope_in_one_write(self, relay: ScriptedRelay) -> None:
        transport = SmtpTransport(relay.url, pool_size=1)
        await transport.send(mail())
        envelope = next(r for r in relay.reads if r.startswith(b"MAIL"))
        together = b"RCPT TO:<ada@example.com>\r\nDATA\r\n" in envelope
        assert together is relay.pipelining
        assert relay.messages == [b"Subject: hi\r\n\r\nhello"]
        await transport.close()

    async def test_lines_are_dot_stuffed_and_end_in_crlf(self, relay: ScriptedRelay) -> None:
        transport = SmtpTransport(relay.url, pool_size=1)
        await transport.send(mail(b"Subject: x\n\n.hidden\r\n..two\rend"))
        assert relay.messages == [b"Subject: x\r\n\r\n..hidden\r\n...two\r\nend"]
        await transport.close()

    async def test_a_refused_recipient_leaves_the_session_usable(
        self, relay: ScriptedRelay
    ) -> None:
        # A server that refuses the recipient and still opens DATA (which RFC 2920 says
        # it should not): the empty message is ended with a lone dot, then reset.
        relay.replies = {b"RCPT": b"550 5.1.1 no such user\r\n"}
        transport = SmtpTransport(relay.url, pool_size=1)
        with pytest.raises(DeliveryError) as gone:
            await transport.send(mail())
        assert gone.value.permanent and "recipient refused: 550" in gone.value.error
        relay.replies = {}
        await transport.send(mail())
        assert relay.connections == 1 and len(relay.messages) == 1 + relay.pipelining
        await transport.close()

    async def test_a_temporary_refusal_of_the_message_is_transient(
        self, relay: ScriptedRelay
    ) -> None:
        relay.replies = {b"BODY": b"451 4.3.0 try again later\r\n"}
        with pytest.raises(DeliveryError) as later:
            await SmtpTransport(relay.url, pool_size=1).send(mail())
        assert not later.value.permanent and "451" in later.value.error

    async def test_a_connection_the_server_closed_is_replaced_not_failed(
        self, relay: ScriptedRelay
    ) -> None:
        transport = SmtpTransport(relay.url, pool_size=1)
        await transport.send(mail())
        relay.drop_connections()  # the relay's idle timeout, say
        await asyncio.sleep(0.05)
        await transport.send(mail())
        assert len(relay.messages) == 2 and relay.connections == 2
        await transport.close()

    async def test_a_server_that_stops_answering_is_a_transient_failure(
        self, relay: ScriptedRelay
    ) -> None:
        relay.silent = True
        with pytest.raises(DeliveryError) as stalled:
            await SmtpTransport(relay.url, pool_size=1, timeout=0.3).send(mail())
        assert not stalled.value.permanent

    async def test_an_address_that_would_end_the_command_is_refused(
        self, relay: ScriptedRelay
    ) -> None:
        transport = SmtpTransport(relay.url, pool_size=1)
        with pytest.raises(DeliveryError) as refused:
            await transport.send(
                OutgoingEmail("herald@example.com", ("a@example.com>\r\nRCPT TO:<b",), b"x\r\n")
            )
        assert refused.value.permanent
        assert not any(b"RCPT TO:<b" in r for r in relay.reads)
        await transport.close()

    async def test_a_connection_lost_after_the_message_is_not_sent_again(
        self, relay: ScriptedRelay
    ) -> None:
        # The relay may have queued it: a second copy on a new connection could be a
        # duplicate, so the failure goes to the worker's retry (and its ledger) instead.
        transport = SmtpTransport(relay.url, pool_size=1)
        await transport.send(mail())
        relay.replies = {b"BODY": b""}
        with pytest.raises(DeliveryError) as lost:
            await transport.send(mail())
        assert not lost.value.permanent
        assert len(relay.messages) == 2 and relay.connections == 1


class TestSessionOpening:
    async def test_a_refused_greeting_is_a_transport_failure(self, relay: ScriptedRelay) -> None:
        # A 5xx before any message is about the relay, not a recipient: the breaker
        # counts it and the backlog waits instead of going to the dead letter queue.
        relay.greeting = b"554 5.7.1 no service for you\r\n"
        with pytest.raises(DeliveryError) as refused:
            await SmtpTransport(relay.url, pool_size=1).send(mail())
        assert not refused.value.permanent and "554" in refused.value.error

    async def test_helo_when_the_server_does_not_know_ehlo(self, relay: ScriptedRelay) -> None:
        relay.replies = {b"EHLO": b"502 5.5.2 what?\r\n"}
        transport = SmtpTransport(relay.url, pool_size=1, ehlo_name="mx.herald.example")
        await transport.send(mail())
        said = b"".join(relay.reads)
        assert b"HELO mx.herald.example\r\n" in said and len(relay.messages) == 1
        await transport.close()

    async def test_credentials_never_go_in_the_clear(self, relay: ScriptedRelay) -> None:
        url = relay.url.replace("smtp://", "smtp://herald:secret@")
        with pytest.raises(DeliveryError) as refused:
            await SmtpTransport(url, pool_size=1).send(mail())
        assert not refused.value.permanent and "without TLS" in refused.value.error
        assert not any(b"AUTH" in r for r in relay.reads)
        # ... unless the URL says so
        transport = SmtpTransport(url + "?insecure_auth=true", pool_size=1)
        await transport.send(mail())
        assert any(r.startswith(b"AUTH PLAIN") for r in relay.reads)
        await transport.close()

    async def test_credentials_upgrade_to_starttls_when_offered(self, relay: ScriptedRelay) -> None:
        relay.tls = self_signed_context()
        url = relay.url.replace("smtp://", "smtp://herald:secret@") + "?verify=false"
        transport = SmtpTransport(url, pool_size=1)
        await transport.send(mail())
        # After the handshake the server reads ciphertext as plaintext no more: what it
        # recorded of AUTH came through TLS, after STARTTLS.
        said = [r[:8] for r in relay.reads]
        assert said.index(b"STARTTLS") < said.index(b"AUTH PLA")
        assert len(relay.messages) == 1
        await transport.close()

    async def test_bytes_injected_after_the_starttls_reply_end_the_session(
        self, relay: ScriptedRelay
    ) -> None:
        relay.tls = self_signed_context()
        relay.injected = b"250 X-INJECTED\r\n"
        with pytest.raises(DeliveryError) as refused:
            await SmtpTransport(relay.url + "?starttls=true&verify=false", pool_size=1).send(mail())
        assert "after its reply to STARTTLS" in refused.value.error
        assert relay.messages == []


class TestEndOfMessage:
    async def test_the_final_reply_has_its_own_long_wait(self, relay: ScriptedRelay) -> None:
        # Given a relay that takes longer than the command timeout to accept a message
        relay.replies = {b"BODY": b""}  # hangs up without a word after the dot
        transport = SmtpTransport(relay.url, pool_size=1, timeout=0.2, data_timeout=5)
        # Then a failure after the whole message went says the outcome is unknown
        with pytest.raises(DeliveryError) as unknown:
            await transport.send(mail())
        assert not unknown.value.permanent and "outcome unknown" in unknown.value.error

    async def test_a_slow_final_reply_within_the_data_timeout_is_a_delivery(
        self, relay: ScriptedRelay
    ) -> None:
        relay.delay_final = 0.5
        transport = SmtpTransport(relay.url, pool_size=1, timeout=0.2, data_timeout=5)
        await transport.send(mail())
        assert len(relay.messages) == 1
        await transport.close()
