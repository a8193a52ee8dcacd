"""The notification email as mail readers parse it: headers, encodings, both parts."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from herald.domain.errors import DeliveryError
from herald.services.email_worker import mime

LINK = "<https://herald.example/api/v1/unsubscribe/" + "t" * 900 + ">"


def parsed(data: bytes) -> EmailMessage:
    mail = message_from_bytes(data, policy=policy.default)
    assert isinstance(mail, EmailMessage) and not mail.defects
    return mail


def headers(subject: str = "Bienvenue, Ada — ça marche !") -> list[tuple[str, str]]:
    return [
        ("From", "Herald <noreply@herald.example>"),
        ("To", "ada@example.com"),
        ("Subject", subject),
        ("List-Unsubscribe", LINK),
    ]


def test_text_and_html_alternatives_round_trip() -> None:
    text, html = "Bonjour Ada,\n\nvotre compte est prêt. 🎉\n" * 40, "<p>prêt 🎉</p>"
    data = mime.write(headers(), text, html, boundary="=_herald_0123")
    mail = parsed(data)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == "Bienvenue, Ada — ça marche !"
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content() == text and rich.get_content() == html
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")  # only CRLF line ends on the wire


def test_text_only_is_a_single_part() -> None:
    mail = parsed(mime.write(headers("plain ascii"), "hi", None, boundary="=_x"))
    assert mail.get_content_type() == "text/plain" and not mail.is_multipart()
    assert mail.get_content() == "hi" and mail["Subject"] == "plain ascii"
    assert mail["MIME-Version"] == "1.0"


def test_a_long_unsubscribe_link_stays_on_one_line() -> None:
    data = mime.write(headers(), "hi", None, boundary="=_x")
    assert f"List-Unsubscribe: {LINK}\r\n".encode() in data


@pytest.mark.parametrize("value", ["hello\r\nBcc: eve@example.com", "a\nb", "x\rX-Evil: 1"])
def test_a_line_break_in_a_header_is_refused(value: str) -> None:
    with pytest.raises(DeliveryError) as refused:
        mime.write(headers(value), "hi", None, boundary="=_x")
    assert refused.value.permanent and "Subject" in refused.value.error


def test_a_long_non_ascii_subject_is_folded_into_encoded_words() -> None:
    subject = "Überraschung für Ada!" * 12
    data = mime.write(headers(subject), "hi", None, boundary="=_x")
    assert data.count(b"=?utf-8?") > 1  # folded over several lines, each under 78
    assert parsed(data)["Subject"] == subject


class TestHeaderLines:
    @pytest.mark.parametrize(
        "subject",
        ["x" * 1200, "word " * 240, "é" * 700, "Mixed " + "y" * 200 + " words"],
        ids=["one long word", "many words", "not ascii", "mixed"],
    )
    def test_a_long_subject_is_folded_within_78_and_reads_back(self, subject: str) -> None:
        data = mime.write(headers(subject), "hi", None, boundary="=_x")
        head = data.split(b"\r\n\r\n", 1)[0]
        subject_lines = head.split(b"Subject: ", 1)[1].split(b"\r\nList-Unsubscribe")[0]
        assert all(len(line) <= 78 for line in subject_lines.split(b"\r\n"))
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))
        assert parsed(data)["Subject"] == subject.strip()

    def test_control_characters_in_a_subject_become_spaces(self) -> None:
        data = mime.write(headers("a\x0bb\x0cc\x00d\te"), "hi", None, boundary="=_x")
        assert parsed(data)["Subject"] == "a b c d e"
        assert not any(c in data for c in b"\x0b\x0c\x00")

    def test_a_control_character_elsewhere_is_refused(self) -> None:
        with pytest.raises(DeliveryError) as refused:
            mime.write([("To", "a\x0c@example.com")], "hi", None, boundary="=_x")
        assert refused.value.permanent

    def test_a_structured_header_over_998_is_refused_not_sent(self) -> None:
        with pytest.raises(DeliveryError):
            mime.write([("List-Unsubscribe", "<" + "u" * 1000 + ">")], "hi", None, boundary="=_x")
