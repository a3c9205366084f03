"""The reference qmail-remote (spec §5, §6). Work in progress: routing (smtproutes, relay
AUTH credentials, domainbindings) and the report texts exist; the SMTP client core and its
shell are the rest of the qmail-remote issue."""
