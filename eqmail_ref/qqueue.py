"""qmail-queue's exit codes as qmail_close() reports them (spec §2.16, qmail.c)."""

from __future__ import annotations

__all__ = ["queue_status_text"]

_BY_CODE: dict[int, bytes] = {
    115: b"Denvelope address too long for qq (#5.1.3)",
    11: b"Denvelope address too long for qq (#5.1.3)",
    31: b"Dmail server permanently rejected message (#5.3.0)",
    51: b"Zqq out of memory (#4.3.0)",
    52: b"Zqq timeout (#4.3.0)",
    53: b"Zqq write error or disk full (#4.3.0)",
    54: b"Zqq read error (#4.3.0)",
    55: b"Zqq unable to read configuration (#4.3.0)",
    56: b"Zqq trouble making network connection (#4.3.0)",
    61: b"Zqq trouble in home directory (#4.3.0)",
    62: b"Zqq trouble creating files in queue (#4.3.0)",
    63: b"Zqq trouble creating files in queue (#4.3.0)",
    64: b"Zqq trouble creating files in queue (#4.3.0)",
    65: b"Zqq trouble creating files in queue (#4.3.0)",
    66: b"Zqq trouble creating files in queue (#4.3.0)",
    71: b"Zmail server temporarily rejected message (#4.3.0)",
    72: b"Zconnection to mail server timed out (#4.4.1)",
    73: b"Zconnection to mail server rejected (#4.4.1)",
    74: b"Zcommunication with mail server failed (#4.4.2)",
    81: b"Zqq internal bug (#4.3.0)",
    91: b"Zqq internal bug (#4.3.0)",
    120: b"Zunable to exec qq (#4.3.0)",
}


def queue_status_text(*, exit_code: int | None, signal: int | None, failed: bool) -> bytes:
    """The qmail_close() text: b"" for success, else a letter (D or Z) and the text.

    `failed` is qmail.c's flagerr: a write to qmail-queue failed, or the message was
    marked failed (too many hops, over databytes).
    """
    if signal is not None:
        return b"Zqq crashed (#4.3.0)"
    if exit_code is None:
        return b"Zqq waitpid surprise (#4.3.0)"
    if exit_code == 0:
        return b"Zqq read error (#4.3.0)" if failed else b""
    text = _BY_CODE.get(exit_code)
    if text is not None:
        return text
    if 11 <= exit_code <= 40:
        return b"Dqq permanent problem (#5.3.0)"
    return b"Zqq temporary problem (#4.3.0)"
