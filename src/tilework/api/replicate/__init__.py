"""Replicate's HTTP API over tilework's jobs, so Replicate's clients work unchanged.

A prediction is a job. Models are ``tilework/<operation>``; a prediction's ``input`` is the
operation's params plus ``image``, a URL or a ``data:`` URI (stored as an upload). Statuses map
queued → ``starting``, running → ``processing``; the rest are the same words. Errors have
Replicate's shape: ``{"title", "detail", "status"}``, with tilework's ``code`` beside them.

``routes`` are the endpoints, ``translate`` turns Replicate's requests into tilework's (and
tilework's field names into Replicate's), ``views`` render jobs as predictions.
"""
