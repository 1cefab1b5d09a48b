"""The web console at ``/console``: server-rendered pages over the same database, for watching
and steering jobs (``routes``), signed in with an API key (``sessions``)."""
