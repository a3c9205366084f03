"""The session stage (ARCHITECTURE.md, session): the raw client that plays a case's steps
(session.py), one Side for whole or step-by-step sessions against the reference in-process
or any target (side.py, side_inprocess.py, side_target.py), what property sessions and the
fuzzer share (differential.py), and the SMTP reply grammar they all read (smtp_text.py)."""
