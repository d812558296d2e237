"""Notice content: minimum necessary wording, one recipient, one token, well-formed 8bit MIME."""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import date, datetime, timezone

import markupsafe
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schoolpass.notices import tokens
from schoolpass.notices.content import Letter, display_name, render, subject_line

BASE = "https://pass.example.org/"
FAMILY = "Quixwellbrook"  # appears nowhere in any template
TO = "parent.one@example.org"
SENT = datetime(2021, 11, 22, 7, 30, tzinfo=timezone.utc)
FORBIDDEN = ("positive", "negative", "detected", "positivo", "negativo", "detectado")
KINDS = ("result-available", "exemption-ending", "test-overdue")
LANGUAGES = ("en", "es")
EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version",
                    "content-language", "content-type"}


def make(kind="result-available", language="en", given_name="María", family_name=FAMILY, *,
         has_link=True, by_date=date(2021, 12, 3), token=None):
    return Letter(kind=kind, language=language, given_name=given_name, family_name=family_name,
                  token=token or tokens.new_token(), has_link=has_link, by_date=by_date)


def build(letter, *, message_id="<n-1.2021-11-22@schoolpass.example.org>", to=TO, reply_to=None):
    return render(letter, base_url=BASE, message_id=message_id,
                  sender="School Testing <noreply@schoolpass.example.org>", to=to,
                  reply_to=reply_to, sent_date=SENT)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def parts(msg):
    text = msg.get_body(("plain",))
    body = msg.get_body(("html",))
    assert text is not None and body is not None
    for part in (text, body):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "8bit"
        # Decodes as UTF-8 (strict) from the raw payload, too.
        part.get_payload(decode=True).decode("utf-8")
    return text.get_content(), body.get_content()


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


ALL_CASES = [(k, lang, link) for k in KINDS for lang in LANGUAGES for link in (True, False)]


@pytest.mark.parametrize(("kind", "language", "has_link"), ALL_CASES)
def test_every_kind_language_and_link_case_is_well_formed(kind, language, has_link):
    letter = make(kind, language, has_link=has_link)
    raw = build(letter)
    msg = parse(raw)

    assert not msg.defects
    assert {name.lower() for name in msg.keys()} == EXPECTED_HEADERS
    assert msg.get_all("To") == [TO]
    assert len(msg["To"].addresses) == 1 and msg["To"].addresses[0].addr_spec == TO
    assert msg["To"].addresses[0].display_name == ""
    assert msg["Cc"] is None and msg["Bcc"] is None
    assert msg["Content-Language"] == language
    assert msg["Message-ID"] == "<n-1.2021-11-22@schoolpass.example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == subject_line(letter)

    text, body = parts(msg)
    name = "María Q."
    assert name in msg["Subject"] and name in text and name in body
    link = tokens.link_for(BASE, letter.token)
    reference = tokens.reference_for(letter.token)
    if has_link:
        assert link in text
        assert f'<a href="{link}">' in body
        assert reference not in text
    else:
        assert reference in text and reference in body
        assert tokens.LINK_PATH not in text and tokens.LINK_PATH not in body
        assert "href" not in body
        assert "school" in text.lower() if language == "en" else "escuela" in text.lower()
    assert tokens.find_tokens(raw) == {letter.token}


@pytest.mark.parametrize(("kind", "language", "has_link"), ALL_CASES)
def test_nothing_says_why(kind, language, has_link):
    for by_date in (date(2021, 12, 3), None):
        letter = make(kind, language, has_link=has_link, by_date=by_date)
        raw = build(letter)
        msg = parse(raw)
        text, body = parts(msg)
        for where in (raw.decode("utf-8").lower(), msg["Subject"].lower(), text.lower(),
                      body.lower(), html.unescape(body).lower()):
            for word in FORBIDDEN:
                assert word not in where
            assert FAMILY.lower() not in where


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("has_link", [True, False])
@pytest.mark.parametrize("by_date", [date(2021, 12, 3), None])
def test_exemption_ending_reads_exactly_like_test_overdue(language, has_link, by_date):
    token = tokens.new_token()
    overdue = make("test-overdue", language, has_link=has_link, by_date=by_date, token=token)
    ending = make("exemption-ending", language, has_link=has_link, by_date=by_date, token=token)
    assert subject_line(overdue) == subject_line(ending)
    assert build(overdue) == build(ending)
    assert build(overdue) != build(make("result-available", language, has_link=has_link,
                                        by_date=by_date, token=token))


def test_reminder_says_by_when_or_as_soon_as_possible():
    dated = make("test-overdue", "en", by_date=date(2021, 12, 3))
    assert subject_line(dated) == (
        "María Q. needs a school screening test by Friday, December 3, 2021")
    text, _ = parts(parse(build(dated)))
    assert "by Friday, December 3, 2021." in text

    asap = make("test-overdue", "en", by_date=None)
    assert subject_line(asap) == "María Q. needs a school screening test as soon as possible"

    es = make("exemption-ending", "es", by_date=date(2021, 12, 3))
    assert "a más tardar el viernes 3 de diciembre de 2021" in subject_line(es)
    assert "lo antes posible" in subject_line(make("exemption-ending", "es", by_date=None))


def test_result_available_ignores_by_date_and_says_ten_days():
    a = make("result-available", "en", by_date=date(2021, 12, 3), token="A" * 32)
    b = make("result-available", "en", by_date=None, token="A" * 32)
    assert build(a) == build(b)
    text, _ = parts(parse(build(a)))
    assert "10 days" in text and "date of birth" in text


def test_spanish_is_spanish_and_english_is_english():
    for kind in KINDS:
        for has_link in (True, False):
            es_text, es_html = parts(parse(build(make(kind, "es", has_link=has_link))))
            en_text, _ = parts(parse(build(make(kind, "en", has_link=has_link))))
            assert "Hola" in es_text and "Gracias" in es_text and "Programa de Pruebas" in es_text
            assert "Hello" not in es_text and "school" not in es_text.lower()
            assert "Hello" in en_text and "Hola" not in en_text
            assert '<html lang="es">' in es_html
            if has_link:
                assert "fecha de nacimiento" in es_text and "10 días" in es_text
            else:
                assert "comuníquese con la escuela" in es_text


@pytest.mark.parametrize("language", ["fr", "", "EN", "de-DE", "xx"])
def test_unsupported_language_falls_back_to_english(language):
    msg = parse(build(make("test-overdue", language)))
    assert msg["Content-Language"] == "en"
    assert "Hello" in parts(msg)[0]


def test_spanish_with_region_is_spanish():
    assert parse(build(make("test-overdue", "es-MX")))["Content-Language"] == "es"


def test_html_escapes_names():
    letter = make("result-available", "en", given_name="<b>Ana & Co</b>", family_name="<i>x")
    msg = parse(build(letter))
    text, body = parts(msg)
    assert "<b>" not in body and "<i>" not in body
    assert "&lt;b&gt;Ana &amp; Co&lt;/b&gt; I." in body  # initial: first letter of the family name
    assert "<b>Ana & Co</b> I." in text  # plain text is not HTML: shown as written
    assert msg["Subject"] == "A new school testing result is available for <b>Ana & Co</b> I."
    # The body is otherwise well-formed: exactly the tags the template writes.
    assert sorted(set(re.findall(r"</?([a-z]+)", body))) == [
        "a", "body", "br", "head", "html", "meta", "p", "title"]


def test_lines_are_crlf_and_short():
    for kind, language, has_link in ALL_CASES:
        raw = build(make(kind, language, given_name="Ñandú " * 40, has_link=has_link))
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert b"\r" not in raw.replace(b"\r\n", b"")
        assert raw.endswith(b"\r\n")
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
        text, _ = parts(parse(raw))
        assert len(text) < 900


def test_headers_are_exactly_as_specified():
    letter = make("test-overdue", "en", given_name="Ana", family_name="lee")
    raw = build(letter, reply_to="office@school.example.org")
    head = header_block(raw).decode("ascii").split("\r\n")
    assert head[0] == "From: School Testing <noreply@schoolpass.example.org>"
    assert head[1] == f"To: {TO}"
    assert head[2] == "Reply-To: office@school.example.org"
    assert head[3] == "Subject: Ana L. needs a school screening test by Friday, December 3, 2021"
    assert head[4] == "Date: Mon, 22 Nov 2021 07:30:00 +0000"
    assert head[5] == "Message-ID: <n-1.2021-11-22@schoolpass.example.org>"
    assert head[6:8] == ["MIME-Version: 1.0", "Content-Language: en"]
    assert re.fullmatch(
        r'Content-Type: multipart/alternative; boundary="=_sp_[0-9a-f]{40}"', head[8])
    assert len(head) == 9
    assert parse(raw)["Reply-To"] == "office@school.example.org"


def test_non_ascii_subject_is_rfc2047_and_round_trips():
    letter = make("test-overdue", "es", given_name="José Ángel")
    raw = build(letter)
    head = header_block(raw)
    assert head.isascii()
    assert b"=?utf-8?" in head
    assert parse(raw)["Subject"] == subject_line(letter)


def test_boundary_is_derived_from_message_id():
    letter = make(token="B" * 32)
    one, again = build(letter, message_id="<one@x>"), build(letter, message_id="<one@x>")
    two = build(letter, message_id="<two@x>")
    assert one == again and one != two
    assert build(letter, message_id="one@x") == one  # brackets added when missing


@pytest.mark.parametrize(
    "to", ["a@x.org, b@y.org", "Mom <a@x.org>", "a@x.org\r\nBcc: e@vil.org", "", "nobody"])
def test_to_must_be_one_bare_address(to):
    with pytest.raises(ValueError):
        build(make(), to=to)


def test_header_arguments_cannot_inject():
    with pytest.raises(ValueError):
        build(make(), message_id="<a@b>\r\nBcc: e@vil.org")
    with pytest.raises(ValueError):
        build(make(), reply_to="x@y.org\nBcc: e@vil.org")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        build(make("result-ready"))


@pytest.mark.parametrize(("given_name", "family_name", "expected"), [
    ("María", "González", "María G."),
    ("María", "gonzález", "María G."),
    ("  Ana  Sofía ", " de la Cruz", "Ana Sofía D."),
    ("Liam", "O'Brien", "Liam O."),
    ("Zoë", "'t Hooft", "Zoë T."),
    ("Kai", "", "Kai"),
    ("Kai", "   ", "Kai"),
    ("", "Lee", "L."),
    ("Ana\r\nBcc: x@y", "Lee\n", "Ana Bcc: x@y L."),
    ("E\u0301mile", "E\u0301tienne", "\u00c9mile \u00c9."),
    ("Ana\u202e", "\u00dfmith", "Ana \u00df."),
])
def test_display_name(given_name, family_name, expected):
    assert display_name(given_name, family_name) == expected


def test_a_name_cannot_smuggle_a_second_token():
    other = tokens.new_token()
    letter = make("result-available", "en", given_name=f"SP-{other} /r/{other}")
    raw = build(letter)
    assert tokens.find_tokens(raw) == {letter.token}


def test_no_name_at_all_still_renders():
    letter = make("test-overdue", "en", given_name="", family_name="")
    text, _ = parts(parse(build(letter)))
    assert "your student needs a school screening test" in text


_names = st.text(
    alphabet=st.characters(codec="utf-8"), max_size=80
) | st.sampled_from(["\r\nBcc: evil@example.org", "x\nTo: evil@example.org\n\n<b>", "\u2028Cc: a@b",
                     '"Quoted" <a@b>', "=?utf-8?q?=0D=0ABcc:_x@y?=", "\x00\x85\u000b\u000c"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(given_name=_names, family_name=_names, kind=st.sampled_from(KINDS),
       language=st.sampled_from(LANGUAGES + ("xx",)), has_link=st.booleans(),
       by_date=st.none() | st.dates())
def test_any_name_renders_a_well_formed_message(given_name, family_name, kind, language, has_link,
                                                by_date):
    letter = make(kind, language, given_name, family_name, has_link=has_link, by_date=by_date)
    raw = build(letter)
    msg = parse(raw)

    assert not msg.defects
    assert {name.lower() for name in msg.keys()} == EXPECTED_HEADERS
    assert msg.get_all("To") == [TO]
    assert msg["Cc"] is None and msg["Bcc"] is None
    assert msg["Subject"] == subject_line(letter)
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert header_block(raw).isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert tokens.find_tokens(raw) == {letter.token}

    text, body = parts(msg)
    assert len(text) < 900
    name = display_name(given_name, family_name)
    if name and tokens.REFERENCE_PREFIX not in name and tokens.LINK_PATH not in name:
        assert name in text
        assert str(markupsafe.escape(name)) in body
    assert "\r" not in name and "\n" not in name
    assert len(msg.get_payload()) == 2
