"""Source adapters: fetch bytes from the outside world and turn them into plain item records.

A library: it never imports ``monitor``.
"""
