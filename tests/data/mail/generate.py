#!/usr/bin/env python3
"""Writes the .eml fixtures in this directory (run it from anywhere; no dependencies).

The mails follow the formats in the Gerrit research notes (gerrit-email.md): 2.x Velocity
templates sent as text/plain 8bit; 2.14+/3.x Soy templates sent as multipart/alternative with
both parts quoted-printable-encoded by Apache mime4j's QuotedPrintableOutputStream (ported below,
quirks included: a bare LF does not reset the 76-column counter, so soft breaks land anywhere,
even inside footer lines, and every `.` is escaped as `=2E`); GoB's mailer's format=flowed,
delsp=yes and base64 variants. SMTP turns every bare LF into CRLF, so every fixture is CRLF.

The generated files are committed; edit this script and re-run it rather than the files.
"""

import base64
import os

HERE = os.path.dirname(os.path.abspath(__file__))

HOST = "android-review.googlesource.com"
CHANGE_ID = "I0123456789abcdef0123456789abcdef01234567"
NUMBER = 123445
PROJECT = "platform/bionic"
BRANCH = "main"
SENDER = "noreply-gerritcodereview-CtTy0igsBrnvL7dKoWEIEg@google.com"
THREAD = f"<gerrit.1709652131000.{CHANGE_ID}@{HOST}>"
URL_2X = f"https://{HOST}/{NUMBER}"
URL_3X = f"https://{HOST}/c/{PROJECT}/+/{NUMBER}?usp=email"
SETTINGS_3X = f"https://{HOST}/settings?usp=email"
SUBJECT = "Fix strtod rounding for subnormals"

OWNER = "Dana Whitfield <dwhitfield@google.com>"
REVIEWER = "Elliott Park <epark@google.com>"
BOT = "bionicbb <bionicbb@android.com>"

COMMIT_MSG = f"""{SUBJECT}

Subnormal inputs were rounded twice when the decimal exponent was below
-308. Round once, at the end, like upstream gdtoa does.

Bug: 123456789
Test: bionic-unit-tests --gtest_filter=stdlib.strtod_subnormal
Change-Id: {CHANGE_ID}
"""

FILES = """---
M libc/upstream-openbsd/lib/libc/gdtoa/strtod.c
M tests/stdlib_test.cpp
2 files changed, 31 insertions(+), 4 deletions(-)
"""


# --------------------------------------------------------------------------------------------
# Encoders


def qp_mime4j(data: bytes) -> bytes:
    """org.apache.james.mime4j.codec.QuotedPrintableOutputStream(out, binary=false)."""
    out = bytearray()
    st = {"next": 77, "sp": False, "tb": False, "cr": False}
    hexd = b"0123456789ABCDEF"

    def line_break():
        out.extend(b"\r\n")
        st["next"] = 76

    def soft_break():
        out.append(0x3D)
        line_break()

    def plain(b):
        st["next"] -= 1
        if st["next"] <= 1:
            soft_break()
        out.append(b)

    def escape(b):
        st["next"] -= 1
        if st["next"] <= 3:
            soft_break()
        out.append(0x3D)
        st["next"] -= 1
        out.append(hexd[b >> 4])
        st["next"] -= 1
        out.append(hexd[b & 15])

    def write_pending():
        if st["sp"]:
            plain(0x20)
        elif st["tb"]:
            plain(0x09)
        elif st["cr"]:
            plain(0x0D)
        st["sp"] = st["tb"] = st["cr"] = False

    for b in data:
        if b == 0x0A:
            if st["cr"]:
                if st["sp"]:
                    escape(0x20)
                elif st["tb"]:
                    escape(0x09)
                line_break()
                st["sp"] = st["tb"] = st["cr"] = False
            else:
                write_pending()
                plain(b)
        elif b == 0x0D:
            st["cr"] = True
        else:
            write_pending()
            if b == 0x20:
                st["sp"] = True
            elif b == 0x09:
                st["tb"] = True
            elif b < 0x20 or b > 0x7E or b in (0x3D, 0x2E):
                escape(b)
            else:
                plain(b)
    write_pending()
    return bytes(out)


def smtp(data: bytes) -> bytes:
    """What commons-net's SMTP writer does to bare LFs: every line ends CRLF on the wire."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64_lines(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i : i + 76] for i in range(0, len(enc), 76))


def flow(text: str, width: int = 72) -> str:
    """format=flowed; delsp=yes (RFC 3676) as Google's mailer writes it: long lines are broken
    at a space, a space is added at the break and deleted again by the reader; `-- ` stays."""
    out = []
    for line in text.split("\n"):
        line = line if line == "-- " else line.rstrip(" ")
        while len(line) > width and " " in line[:width]:
            cut = line.rfind(" ", 0, width)
            out.append(line[: cut + 1] + " ")
            line = line[cut + 1 :]
        out.append(line)
    return "\n".join(out)


def q_word(text: str) -> str:
    """Gerrit's EmailHeader: the whole value as one unfolded =?UTF-8?Q?...?= word."""
    keep = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
    out = []
    for b in text.encode():
        if b == 0x20:
            out.append("_")
        elif b in keep:
            out.append(chr(b))
        else:
            out.append(f"={b:02X}")
    return "=?UTF-8?Q?" + "".join(out) + "?="


def b_words(text: str) -> str:
    """Google's mailer: base64 encoded-words folded onto continuation lines."""
    data = text.encode()
    words, chunk = [], b""
    for ch in text:
        enc = ch.encode()
        if len(chunk) + len(enc) > 36:
            words.append(chunk)
            chunk = b""
        chunk += enc
    words.append(chunk)
    assert b"".join(words) == data
    return "\r\n ".join("=?UTF-8?B?" + base64.b64encode(w).decode() + "?=" for w in words)


# --------------------------------------------------------------------------------------------
# Headers


def display(name: str) -> str:
    """A display name as Gerrit's EmailHeader writes it: Q-encoded if not ASCII, else quoted
    when it holds specials."""
    if any(ord(c) > 0x7E for c in name):
        return q_word(name)
    if any(c in '()<>,;:\\"[]@.' for c in name):
        return '"' + name + '"'
    return name


def delivery(date: str, sender: str = SENDER) -> str:
    return (
        "Delivered-To: bionicbb@android.com\n"
        "Received: by 2002:a05:7022:4a1:b0:8d:3a7f:91c2 with SMTP id t33csp1841327dlg;\n"
        f"        {date}\n"
        f"Return-Path: <{sender}>\n"
        "Received: from mail-sor-f69.google.com (mail-sor-f69.google.com. [209.85.220.69])\n"
        "        by mx.google.com with SMTPS id 6a1803df08f44-6905ab3c1b5sor1201856d6.10.2024.03.05\n"
        "        for <bionicbb@android.com>\n"
        "        (Google Transport Security);\n"
        f"        {date}\n"
        "Authentication-Results: mx.google.com;\n"
        "       dkim=pass header.i=@google.com header.s=20230601 header.b=Qz8x2Kcv;\n"
        f"       spf=pass (google.com: domain of {sender} designates 209.85.220.69 as permitted sender) smtp.mailfrom={sender};\n"
        "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=google.com\n"
    )


def headers_2x(kind, name, date, subject, message_id, extra_reply=True):
    h = delivery(date)
    h += f"Date: {date}\n"
    h += f'From: "{name} (Gerrit)" <{SENDER}>\n'
    h += f"To: {OWNER}\n"
    h += f"CC: {REVIEWER},\n\t{BOT}\n"
    h += f"Message-ID: {message_id}\n"
    if kind != "newchange":
        h += f"In-Reply-To: {THREAD}\nReferences: {THREAD}\n"
    h += f"Subject: {subject}\n"
    h += f"X-Gerrit-MessageType: {kind}\n"
    h += f"X-Gerrit-Change-Id: {CHANGE_ID}\n"
    h += f"X-Gerrit-ChangeURL: <{URL_2X}>\n"
    h += "X-Gerrit-Commit: 5f0c1ab2e6d34f9a8b7c6d5e4f3a2b1c0d9e8f7a\n"
    if extra_reply:
        h += "Reply-To: dwhitfield@google.com\n"
    h += "MIME-Version: 1.0\n"
    h += "Content-Type: text/plain; charset=UTF-8\n"
    h += "Content-Transfer-Encoding: 8bit\n"
    h += "Content-Disposition: inline\n"
    h += "User-Agent: Gerrit/2.11.5\n"
    return h


def headers_3x(kind, name, date, subject, meta, reason, ps, boundary, comment_date=None):
    h = delivery(date)
    h += f"Date: {date}\n"
    h += f"From: {display(name + ' (Gerrit)')} <{SENDER}>\n"
    h += f"To: {OWNER}\n"
    h += f"Cc: {REVIEWER},\n\t{BOT}\n"
    h += "Auto-Submitted: auto-generated\n"
    h += f"X-Gerrit-MessageType: {kind}\n"
    h += f"X-Gerrit-PatchSet: {ps}\n"
    h += f"List-Id: <gerrit-platform-bionic.{HOST}>\n"
    h += f"List-Unsubscribe: <{SETTINGS_3X}>\n"
    h += f"X-Gerrit-Change-Id: {CHANGE_ID}\n"
    h += f"X-Gerrit-Change-Number: {NUMBER}\n"
    h += f"X-Gerrit-Project: {PROJECT}\n"
    h += f"X-Gerrit-ChangeURL: <{URL_3X}>\n"
    h += "X-Gerrit-Commit: 9c4e2a7b1d0f3e5a6b8c7d9e0f1a2b3c4d5e6f70\n"
    if comment_date:
        h += f"X-Gerrit-Comment-Date: {comment_date}\n"
    if kind != "newchange":
        h += f"In-Reply-To: {THREAD}\n"
    h += f"References: {THREAD}\n"
    h += f"Subject: {subject}\n"
    h += f"Reply-To: {display(name)} <{'epark' if name.startswith('Elliott') else 'dwhitfield'}@google.com>,\n"
    h += f"\t{OWNER},\n\t{REVIEWER},\n\t{BOT}\n"
    h += f"Message-ID: <{meta}-{reason}-HTML@{HOST}>\n"
    h += "MIME-Version: 1.0\n"
    h += "Content-Transfer-Encoding: 8bit\n"
    h += "Content-Disposition: inline\n"
    h += "User-Agent: Gerrit/3.9.2\n"
    h += f'Content-Type: multipart/alternative; boundary="{boundary}"; charset=UTF-8\n'
    return h


def multipart_3x(headers: str, text: str, html: str, boundary: str) -> bytes:
    body = (
        f"--{boundary}\nContent-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
    ).encode()
    body += qp_mime4j(text.encode()) + b"\n"
    body += (
        f"--{boundary}\nContent-Type: text/html; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
    ).encode()
    body += qp_mime4j(html.encode()) + b"\n"
    body += f"--{boundary}--\n".encode()
    return smtp(headers.encode() + b"\n" + body)


# --------------------------------------------------------------------------------------------
# Bodies


def footer_2x(kind, ps, url=URL_2X, extra=()):
    lines = [
        "-- ",
        f"To view, visit {url}",
        f"To unsubscribe, visit https://{HOST}/settings",
        "",
        f"Gerrit-MessageType: {kind}",
        f"Gerrit-Change-Id: {CHANGE_ID}",
        f"Gerrit-PatchSet: {ps}",
        f"Gerrit-Project: {PROJECT}",
        f"Gerrit-Branch: {BRANCH}",
        f"Gerrit-Owner: {OWNER}",
        f"Gerrit-Reviewer: {REVIEWER}",
        f"Gerrit-Reviewer: {BOT}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def footer_3x_list(kind, ps, attention=(), extra=()):
    return [
        f"Gerrit-MessageType: {kind}",
        f"Gerrit-Project: {PROJECT}",
        f"Gerrit-Branch: {BRANCH}",
        f"Gerrit-Change-Id: {CHANGE_ID}",
        f"Gerrit-Change-Number: {NUMBER}",
        f"Gerrit-PatchSet: {ps}",
        f"Gerrit-Owner: {OWNER}",
        f"Gerrit-Reviewer: {REVIEWER}",
        f"Gerrit-Reviewer: {BOT}",
        *[f"Gerrit-Attention: {a}" for a in attention],
        *extra,
    ]


def footer_3x_text(footers):
    return (
        "-- \n"
        f"To view, visit {URL_3X}\n"
        f"To unsubscribe, or for help writing mail filters, visit {SETTINGS_3X}\n"
        "\n" + "".join(f + "\n" for f in footers)
    )


def footer_3x_html(footers):
    return (
        f'<p>To view, visit <a href="{URL_3X}">change {NUMBER}</a>. '
        f'To unsubscribe, or for help writing mail filters, visit <a href="{SETTINGS_3X}">settings</a>.</p>'
        '<div itemscope itemtype="http://schema.org/EmailMessage"><div itemscope itemprop="action" '
        f'itemtype="http://schema.org/ViewAction"><link itemprop="url" href="{URL_3X}"/>'
        '<meta itemprop="name" content="View Change"/></div></div>\n\n'
        + "".join(f'<div style="display:none"> {f} </div>\n' for f in footers)
    )


def html_page(inner: str) -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\"><title>Gerrit</title>"
        "<style>.pre{white-space:pre-wrap}</style></head><body>" + inner + "</body></html>"
    )


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write(name: str, data: bytes):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------------------------
# Gerrit 2.x: text/plain, 8bit


def gen_2x():
    date = "Tue, 5 Mar 2024 10:02:11 -0800"
    body = (
        "Hello Elliott Park, bionicbb,\n\n"
        "I'd like you to do a code review.  Please visit\n\n"
        f"    {URL_2X}\n\n"
        "to review the following change.\n\n"
        f"Change subject: {SUBJECT}\n"
        + "." * 70
        + "\n\n"
        + COMMIT_MSG
        + FILES
        + "\n\n"
        f"  git pull ssh://{HOST}:29418/{PROJECT} refs/changes/45/{NUMBER}/1\n"
        + footer_2x("newchange", 1)
    )
    write(
        "newchange-2x-plain-8bit.eml",
        smtp(
            (
                headers_2x(
                    "newchange", "Dana Whitfield", date,
                    f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}", THREAD,
                )
                + "\n"
                + body
            ).encode()
        ),
    )

    # includeDiff: the diff holds a `-- ` line (a removed "- " line) and footer-looking text;
    # only the block after the last separator counts.
    date = "Wed, 6 Mar 2024 09:15:40 -0800"
    diff = (
        "diff --git a/libc/upstream-openbsd/lib/libc/gdtoa/strtod.c b/libc/upstream-openbsd/lib/libc/gdtoa/strtod.c\n"
        "index 3c1d2e4..8f9a0b1 100644\n"
        "--- a/libc/upstream-openbsd/lib/libc/gdtoa/strtod.c\n"
        "+++ b/libc/upstream-openbsd/lib/libc/gdtoa/strtod.c\n"
        "@@ -409,7 +409,7 @@\n"
        " \t\t}\n"
        "-\tif (bc.dplen > 0) {\n"
        "+\tif (bc.dplen > 0 && !bc.scale) {\n"
        " \t\t\tgoto ret;\n"
        "diff --git a/tests/README.md b/tests/README.md\n"
        "index 1111111..2222222 100644\n"
        "--- a/tests/README.md\n"
        "+++ b/tests/README.md\n"
        "@@ -3,3 +3,2 @@\n"
        " Gerrit-Project: platform/evil\n"
        "-- \n"
        "+Gerrit-PatchSet: 99\n"
    )
    body = (
        "Hello Elliott Park, bionicbb,\n\n"
        "I'd like you to reexamine a change.  Please visit\n\n"
        f"    {URL_2X}\n\n"
        "to look at the new patch set (#2).\n\n"
        f"Change subject: {SUBJECT}\n"
        + "." * 70
        + "\n\n"
        + COMMIT_MSG
        + FILES
        + "\n\n"
        f"  git pull ssh://{HOST}:29418/{PROJECT} refs/changes/45/{NUMBER}/2\n"
        + diff
        + footer_2x("newpatchset", 2)
    )
    write(
        "newpatchset-2x-plain-8bit-diff.eml",
        smtp(
            (
                headers_2x(
                    "newpatchset", "Dana Whitfield", date,
                    f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
                    "<001a1140c4c2d7a0e505d2f1a3b4@google.com>",
                )
                + "\n"
                + body
            ).encode()
        ),
    )

    date = "Wed, 6 Mar 2024 11:40:02 -0800"
    body = (
        "Elliott Park has posted comments on this change.\n\n"
        f"Change subject: {SUBJECT}\n"
        + "." * 70
        + "\n\n\n"
        "Patch Set 2: Verified+1\n\n"
        "(1 comment)\n\n"
        "The failure was the flaky emulator, not this change. Building again.\n"
        "bionicbb: retry\n"
        "> bionicbb: clean\n"
        "Please don't Verified+1 changes by hand next time, let the bot vote.\n\n"
        f"https://{HOST}/#/c/{NUMBER}/2/libc/upstream-openbsd/lib/libc/gdtoa/strtod.c\n"
        "File libc/upstream-openbsd/lib/libc/gdtoa/strtod.c:\n\n"
        "Line 412: \tif (bc.dplen > 0 && !bc.scale) {\n"
        "Does the clean build also need this? If so:\n"
        "bionicbb: clean\n"
        "\n\n"
        + footer_2x("comment", 2, extra=["Gerrit-HasComments: Yes"])
    )
    write(
        "comment-2x-plain-8bit.eml",
        smtp(
            (
                headers_2x(
                    "comment", "Elliott Park", date,
                    f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
                    "<001a1140c4c2d7a0e505d2f1a9c0@google.com>",
                )
                .replace("Reply-To: dwhitfield@google.com", "Reply-To: epark@google.com")
                + "\n"
                + body
            ).encode()
        ),
    )

    date = "Fri, 8 Mar 2024 16:03:27 -0800"
    body = (
        "Dana Whitfield has abandoned this change.\n\n"
        f"Change subject: {SUBJECT}\n"
        + "." * 70
        + "\n\n\n"
        "Abandoned\n\n"
        "Superseded by the upstream gdtoa update; bionicbb: retry will not help here.\n\n"
        + footer_2x("abandon", 2)
    )
    write(
        "abandon-2x-plain-8bit.eml",
        smtp(
            (
                headers_2x(
                    "abandon", "Dana Whitfield", date,
                    f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
                    "<001a1140c4c2d7a0e505d2f1b7e2@google.com>",
                )
                + "\n"
                + body
            ).encode()
        ),
    )


# --------------------------------------------------------------------------------------------
# Gerrit 3.x: multipart/alternative, quoted-printable (mime4j), CRLF


def header_3x_text(first: str, attention: str = "") -> str:
    head = f"Attention is currently required from: {attention}.\n\n" if attention else ""
    return (
        head + first + "\n\n"
        f"Change subject: {SUBJECT}\n" + "." * 70 + "\n"
    )


def gen_3x_newchange(name, subject_header, owner_name="Dana Whitfield"):
    footers = footer_3x_list("newchange", 1, attention=[REVIEWER])
    text = (
        header_3x_text(
            f"Hello Elliott Park, bionicbb,\n\n"
            "I'd like you to do a code review.\nPlease visit\n\n"
            f"    {URL_3X}\n\n"
            "to review the following change.\n",
            "Elliott Park",
        )
        + "\n"
        + COMMIT_MSG
        + FILES
        + "\n\n"
        + footer_3x_text(footers)
    )
    html = html_page(
        f"<p>{esc(owner_name)} would like Elliott Park and bionicbb to <strong>review</strong> this change.</p>"
        f'<p><a href="{URL_3X}">View Change</a></p>'
        f'<pre style="font-family: monospace,monospace; white-space: pre-wrap;">{esc(COMMIT_MSG)}</pre>'
        f'<pre style="font-family: monospace,monospace; white-space: pre-wrap;">{esc(FILES)}</pre>'
        + footer_3x_html(footers)
    )
    boundary = "Yt+0R/c3vJw="
    headers = headers_3x(
        "newchange", owner_name, "Tue, 5 Mar 2024 18:02:11 +0000", subject_header,
        "3f2d1c0b9a8e7f6d5c4b3a29180706f5e4d3c2b1", "EmailReviewRequested", 1, boundary,
    )
    write(name, multipart_3x(headers, text, html, boundary))


def gen_3x():
    gen_3x_newchange(
        "newchange-3x-multipart-qp.eml",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
    )
    # One unfolded Q word for the whole subject (Gerrit's EmailHeader rule for non-ASCII).
    gen_3x_newchange(
        "newchange-3x-subject-encoded-q.eml",
        q_word(f"Change in ...bionic[{BRANCH}]: strtod: round subnormals once — per Zoë's review"),
        owner_name="Zoë Müller",
    )

    footers = footer_3x_list("newpatchset", 2, attention=[REVIEWER])
    text = (
        header_3x_text(
            f"Dana Whitfield has uploaded a new patch set (#2). ( {URL_3X} )\n",
            "Elliott Park",
        )
        + "\n"
        + COMMIT_MSG
        + FILES
        + "\n\n"
        + footer_3x_text(footers)
    )
    html = html_page(
        f"<p>Dana Whitfield <strong>uploaded patch set #2</strong> to this change.</p>"
        f'<p><a href="{URL_3X}">View Change</a></p>'
        f'<pre style="font-family: monospace,monospace; white-space: pre-wrap;">{esc(COMMIT_MSG)}</pre>'
        + footer_3x_html(footers)
    )
    boundary = "kZ0q/7Hc3Ls="
    headers = headers_3x(
        "newpatchset", "Dana Whitfield", "Wed, 6 Mar 2024 17:15:40 +0000",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
        "6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b", "EmailNewPatchSet", 2, boundary,
    )
    write("newpatchset-3x-multipart-qp.eml", multipart_3x(headers, text, html, boundary))
    gen_3x_comment()
    gen_3x_others()


COMMENT_DATE = "Wed, 06 Mar 2024 19:40:02 +0000"
LINK_A = f"https://{HOST}/c/{PROJECT}/+/{NUMBER}/comment/5d1c3e4f_0a9b8c7d/"
LINK_B = f"https://{HOST}/c/{PROJECT}/+/{NUMBER}/comment/7e6f5a4b_3c2d1e0f/"


def comment_3x_text(footers):
    return (
        header_3x_text(
            f"Elliott Park has posted comments on this change by Dana Whitfield. ( {URL_3X} )\n",
            "Dana Whitfield",
        )
        + "\n\n"
        "Patch Set 3: Code-Review+1 Verified+1\n\n"
        "(3 comments)\n\n"
        "Commit Message:\n\n"
        f"{LINK_A} :\n"
        "PS3, Line 9: Bug: 123456789\n"
        "Please also name the upstream gdtoa commit.\n\n\n"
        "File libc/upstream-openbsd/lib/libc/gdtoa/strtod.c:\n\n"
        f"{LINK_B} :\n"
        "PS3, Line 412: \tif (bc.dplen > 0 && !bc.scale) {\n"
        "Does the clean build need this too? If so, run\n"
        "bionicbb: clean\n"
        "after it lands.\n\n\n"
        "Patchset:\n\n"
        "PS3: \n"
        "> bionicbb: retry\n"
        "Thanks, the emulator was the problem. LGTM with the nit fixed.\n"
        "bionicbb: x86_64\n\n\n"
        "\n"
        + footer_3x_text(footers)
    )


def comment_3x_html(footers):
    chip = "border-radius: 3px; display: inline-block; margin: 0 2px; padding: 4px;background-color: #b3f5ab;"
    return html_page(
        "<p>Elliott Park <strong>posted comments</strong> on this change by Dana Whitfield.</p>"
        f'<p><a href="{URL_3X}">View Change</a></p>'
        f'<div style="white-space:pre-wrap">Patch set 3:<span style="{chip}">Code-Review +1</span>'
        f'<span style="{chip}">Verified +1</span></div>'
        "<p>(3 comments)</p>"
        '<ul style="list-style: none; padding: 0;">'
        f'<li><a href="{LINK_A}">Commit Message:</a><ul><li><p>Line 9:</p>'
        "<p>Please also name the upstream gdtoa commit.</p></li></ul></li>"
        f'<li><a href="{LINK_B}">File libc/upstream-openbsd/lib/libc/gdtoa/strtod.c:</a><ul><li>'
        "<p>Line 412:</p><p>Does the clean build need this too? If so, run<br>bionicbb: clean<br>after it lands.</p>"
        "</li></ul></li>"
        "<li><p>Patchset:</p><ul><li><blockquote>bionicbb: retry</blockquote>"
        "<p>Thanks, the emulator was the problem. LGTM with the nit fixed.<br>bionicbb: x86_64</p>"
        "</li></ul></li></ul>"
        + footer_3x_html(footers)
    )


def gen_3x_comment():
    footers = footer_3x_list(
        "comment", 3, attention=[OWNER],
        extra=[
            f"Gerrit-Comment-Date: {COMMENT_DATE}",
            "Gerrit-HasComments: Yes",
            "Gerrit-Has-Labels: Yes",
            f"Comment-In-Reply-To: {OWNER}",
        ],
    )
    boundary = "r8X2mQ+v0Tg="
    headers = headers_3x(
        "comment", "Elliott Park", "Wed, 6 Mar 2024 19:40:02 +0000",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
        "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c", "EmailReviewComments", 3, boundary,
        comment_date=COMMENT_DATE,
    )
    text, html = comment_3x_text(footers), comment_3x_html(footers)
    data = multipart_3x(headers, text, html, boundary)
    write("comment-3x-multipart-qp.eml", data)

    # The same mail cut off in the middle of the text part (no footers, no closing boundary).
    cut = data.index(b"Patchset:")
    write("comment-3x-truncated.eml", data[:cut])


def gen_3x_others():
    footers = footer_3x_list("deleteVote", 3)
    text = (
        header_3x_text(f"Elliott Park has removed a vote from this change. ( {URL_3X} )\n")
        + "\n\n"
        "Removed Verified+1 by bionicbb <bionicbb@android.com>\n\n"
        "The bot's vote was on the flaky run.\n\n"
        + footer_3x_text(footers)
    )
    html = html_page(
        "<p>Elliott Park <strong>removed a vote</strong> from this change.</p>"
        f'<p><a href="{URL_3X}">View Change</a></p>'
        "<pre>Removed Verified+1 by bionicbb &lt;bionicbb@android.com&gt;\n\n"
        "The bot's vote was on the flaky run.</pre>" + footer_3x_html(footers)
    )
    boundary = "Pw4n/2Jd8Ko="
    headers = headers_3x(
        "deleteVote", "Elliott Park", "Wed, 6 Mar 2024 19:45:10 +0000",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
        "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d", "EmailDeleteVote", 3, boundary,
    )
    write("deletevote-3x-multipart-qp.eml", multipart_3x(headers, text, html, boundary))

    footers = footer_3x_list("merged", 3)
    text = (
        header_3x_text(f"Elliott Park has submitted this change. ( {URL_3X} )\n")
        + "\n"
        + COMMIT_MSG
        + FILES
        + "\n"
        "Approvals:\n"
        "  Elliott Park: Looks good to me, approved\n"
        "  bionicbb: Verified\n\n"
        + footer_3x_text(footers)
    )
    html = html_page(
        "<p>Elliott Park <strong>submitted</strong> this change.</p>"
        f'<p><a href="{URL_3X}">View Change</a></p>'
        f"<pre>{esc(COMMIT_MSG)}</pre>" + footer_3x_html(footers)
    )
    boundary = "Hq7c+1Vb5Zs="
    headers = headers_3x(
        "merged", "Elliott Park", "Thu, 7 Mar 2024 08:12:55 +0000",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
        "2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e", "EmailMerged", 3, boundary,
    )
    write("merged-3x-multipart-qp.eml", multipart_3x(headers, text, html, boundary))

    # A plugin's type (the checks plugin's tests expect `combinedCheckStateUpdate`).
    footers = footer_3x_list("combinedCheckStateUpdate", 3)
    text = (
        header_3x_text(f"The combined check state has been updated to FAILED for patch set 3 of this change. ( {URL_3X} )\n")
        + "\n\n"
        "Checker bionic-lint: FAILED\n\n"
        + footer_3x_text(footers)
    )
    html = html_page(
        "<p>The combined check state has been updated to <strong>FAILED</strong>.</p>"
        + footer_3x_html(footers)
    )
    boundary = "Lm3s/8Rt6Wn="
    headers = headers_3x(
        "combinedCheckStateUpdate", "Gerrit Code Review", "Thu, 7 Mar 2024 07:01:09 +0000",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
        "3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f", "EmailCombinedCheckStateUpdate", 3, boundary,
    )
    write("unknown-type-3x-multipart-qp.eml", multipart_3x(headers, text, html, boundary))

    # Synthetic: Gerrit always sends a text part; this checks the HTML fallback alone.
    footers = footer_3x_list("newpatchset", 2)
    html = html_page(
        "<p>Dana Whitfield <strong>uploaded patch set #2</strong> to this change.</p>"
        f'<p><a href="{URL_3X}">View Change</a></p>'
        f"<pre>{esc(COMMIT_MSG)}</pre>" + footer_3x_html(footers)
    )
    headers = headers_3x(
        "newpatchset", "Dana Whitfield", "Wed, 6 Mar 2024 17:15:40 +0000",
        f"Change in ...bionic[{BRANCH}]: {SUBJECT}",
        "6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b", "EmailNewPatchSet", 2, "unused",
    ).replace(
        'Content-Type: multipart/alternative; boundary="unused"; charset=UTF-8\n',
        "Content-Type: text/html; charset=UTF-8\n",
    ).replace("Content-Transfer-Encoding: 8bit\n", "Content-Transfer-Encoding: quoted-printable\n")
    write("newpatchset-3x-html-only.eml", smtp(headers.encode() + b"\n" + qp_mime4j(html.encode()) + b"\n"))


# --------------------------------------------------------------------------------------------
# GoB (Google's mailer): format=flowed; delsp=yes, base64, encoded-word subjects


def gob_headers(name, date, subject, message_id, content_type, cte=None):
    h = delivery(date)
    h += f"Date: {date}\n"
    h += f"In-Reply-To: {THREAD}\nReferences: {THREAD}\n"
    h += f"Message-ID: {message_id}\n"
    h += f"Subject: {subject}\n"
    h += f'From: "{name} (Gerrit)" <{SENDER}>\n'
    h += f"To: {OWNER}\n"
    h += f"Cc: {REVIEWER}, {BOT}\n"
    h += "MIME-Version: 1.0\n"
    h += f"Content-Type: {content_type}\n"
    if cte:
        h += f"Content-Transfer-Encoding: {cte}\n"
    return h


def gob_comment_text(name, extra_line=""):
    return (
        f"{name} has posted comments on this change. ( {URL_2X} )\n\n"
        f"Change subject: {SUBJECT}\n" + "." * 59 + "\n\n\n"
        "Patch Set 3: Code-Review+2\n\n"
        "The emulator timed out again; rather than the clean job, please reply with "
        "bionicbb: retry and it will build again.\n"
        "bionicbb: aarch64\n"
        + extra_line
        + footer_2x("comment", 3, extra=["Gerrit-HasComments: No"])
    )


def gen_gob():
    text = gob_comment_text("Elliott Park")
    # Google's mailer wraps before footers too, so the long message line is soft-broken with
    # "bionicbb: retry" starting a raw line: after unflowing it is mid-line again.
    flowed = flow(text, width=78)
    assert "\nbionicbb: retry and" in flowed, flowed
    headers = gob_headers(
        "Elliott Park", "Thu, 7 Mar 2024 02:11:35 -0800",
        f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
        "<001a114da7ae26e2eb053fe0c29c@google.com>",
        "text/plain; charset=UTF-8; format=flowed; delsp=yes",
    )
    write("comment-gob-flowed.eml", smtp((headers + "\n" + flowed).encode()))

    # Base64 text part inside multipart/alternative, Google-style boundary.
    body_text = (
        f"Dana Whitfield has uploaded a new patch set (#4). ( {URL_2X} )\n\n"
        f"Change subject: {SUBJECT}\n" + "." * 59 + "\n\n"
        + COMMIT_MSG + FILES + "\n"
        + footer_2x("newpatchset", 4)
    )
    html = html_page(
        "<p>Dana Whitfield has uploaded a new patch set (#4).</p>"
        f'<p><a href="{URL_2X}">View Change</a></p>'
    )
    boundary = "000000000000a91c3d0613e5f7b2"
    headers = gob_headers(
        "Dana Whitfield", "Thu, 7 Mar 2024 09:30:00 -0800",
        f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
        "<000000000000a5ad0e0613e5f7b4@google.com>",
        f'multipart/alternative; boundary="{boundary}"',
    )
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"; format=flowed; delsp=yes\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    body += b64_lines(smtp(flow(body_text).encode())) + b"\r\n"
    body += (
        f"--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode()
    body += smtp(qp_mime4j(html.encode())) + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    write("newpatchset-gob-base64.eml", smtp(headers.encode()) + b"\r\n" + body)

    # Non-ASCII subject as folded =?UTF-8?B?...?= words; raw UTF-8 (8bit) body.
    subject = b_words(f"Change in {PROJECT}[{BRANCH}]: strtod: Zoë's fix — round subnormals once")
    text = gob_comment_text("Zoë Müller").replace("Patch Set 3: Code-Review+2", "Patch Set 3: Verified+1")
    headers = gob_headers(
        "Zoë Müller", "Thu, 7 Mar 2024 12:00:00 -0800", subject,
        "<001a114da7ae26e2eb053fe0c2aa@google.com>",
        "text/plain; charset=UTF-8; format=flowed; delsp=yes", cte="8bit",
    ).replace('From: "Zoë Müller (Gerrit)"', "From: " + q_word("Zoë Müller (Gerrit)"))
    write("comment-gob-subject-encoded-b.eml", smtp((headers + "\n" + flow(text)).encode()))


# --------------------------------------------------------------------------------------------
# Mails the bot must set aside


def gen_set_aside():
    # A person writing to the bot's mailbox.
    human = (
        "Return-Path: <epark@google.com>\n"
        "Date: Thu, 7 Mar 2024 10:00:00 -0800\n"
        "From: Elliott Park <epark@google.com>\n"
        "To: bionicbb@android.com\n"
        "Subject: is the presubmit bot down?\n"
        "Message-ID: <CAJgzZorR2hFq1=sd8Xb2Q@mail.gmail.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=\"UTF-8\"\n\n"
        "My change has been waiting for a Verified+1 for an hour.\n"
        "bionicbb: retry\n\n"
        "-- \nElliott\n"
    )
    write("human-no-footers.eml", smtp(human.encode()))

    # A person replying to a Gerrit mail, quoting it, footers included.
    quoted = "".join(f"> {l}".rstrip() + "\n" for l in gob_comment_text("Elliott Park").split("\n"))
    reply = (
        "Return-Path: <dwhitfield@google.com>\n"
        "Date: Thu, 7 Mar 2024 10:30:00 -0800\n"
        "From: Dana Whitfield <dwhitfield@google.com>\n"
        "To: Elliott Park <epark@google.com>\n"
        "Cc: bionicbb@android.com\n"
        f"Subject: Re: Change in {PROJECT}[{BRANCH}]: {SUBJECT}\n"
        f"In-Reply-To: {THREAD}\n"
        "Message-ID: <CAHk7xq=Wm3Lr0gk1+Yy1A@mail.gmail.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=\"UTF-8\"\n\n"
        "Will do, thanks.\n\n"
        "On Thu, Mar 7, 2024 at 2:11 AM Elliott Park (Gerrit) <" + SENDER + "> wrote:\n"
        + quoted
        + "\n-- \nDana\n"
    )
    write("human-reply-quoting-footers.eml", smtp(reply.encode()))

    # A forged Gerrit mail: real footers, wrong sender.
    text = gob_comment_text("Elliott Park")
    headers = gob_headers(
        "Elliott Park", "Thu, 7 Mar 2024 02:11:35 -0800",
        f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
        "<forged.1@example.com>", "text/plain; charset=UTF-8",
    ).replace(f'"Elliott Park (Gerrit)" <{SENDER}>', '"Elliott Park (Gerrit)" <noreply-gerritcodereview@google.com.evil.example>')
    write("foreign-sender.eml", smtp((headers + "\n" + text).encode()))

    # A charset nobody knows, with bytes that are not UTF-8.
    headers = gob_headers(
        "Elliott Park", "Thu, 7 Mar 2024 02:11:35 -0800",
        f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
        "<001a114da7ae26e2eb053fe0c2bb@google.com>",
        "text/plain; charset=x-klingon-8", cte="8bit",
    )
    data = (headers + "\n").encode() + gob_comment_text("Elliott Park").replace(
        "rather than", "r\xe2\x80ther than"
    ).encode("latin-1", errors="strict")
    write("undecodable-charset.eml", smtp(data))

    # multipart/alternative whose declared boundary never appears in the body.
    headers = gob_headers(
        "Elliott Park", "Thu, 7 Mar 2024 02:11:35 -0800",
        f"Change in {PROJECT}[{BRANCH}]: {SUBJECT}",
        "<001a114da7ae26e2eb053fe0c2cc@google.com>",
        'multipart/alternative; boundary="001a114cd8be55b486053face5ca"',
    )
    body = (
        "--001a114cd8be55b486053face5cb\nContent-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
    ).encode() + qp_mime4j(gob_comment_text("Elliott Park").encode()) + b"\n--001a114cd8be55b486053face5cb--\n"
    write("broken-multipart-boundary.eml", smtp(headers.encode() + b"\n" + body))


if __name__ == "__main__":
    gen_2x()
    gen_3x()
    gen_gob()
    gen_set_aside()
