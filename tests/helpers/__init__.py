"""Modules the tests share (not tests themselves): in-process drivers, raw clients, fake
peers and DNS, TLS material, harness helpers."""
