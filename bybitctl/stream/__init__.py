"""The `bybitctl stream` pipeline: pybit WebSocket frames -> normaliser -> events.

Order books go through `bybitctl.book` (pybit's internal list book is bypassed); events go
to a live rich view on a terminal or to JSONL on a pipe, and frames optionally to a
recording (`bybitctl.recording`).
"""
