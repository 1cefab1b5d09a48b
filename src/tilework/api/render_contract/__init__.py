"""The render contract, verbatim: the render-pipeline API its clients already call,
``POST /render/jobs`` and ``GET /render/jobs/{id}``.

A thin skin over the same jobs as ``/v1`` (operation ``render``): a React app written against
the contract can point at tilework unchanged. Its bodies are the contract's, not ``/v1``'s:
errors are ``{"error": "<code>"[, "details": {field: message}]}``, statuses are ``processing``,
``completed`` and ``failed``, and a failure carries one of the contract's five error codes.

``routes`` are the two endpoints, ``translate`` maps the contract's bodies to jobs and back.
"""
