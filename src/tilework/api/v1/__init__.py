"""tilework's own API, ``/v1``: jobs and their events, uploads, keys, signed files, and the
callbacks of remote providers; ``schemas`` and ``bodies`` are its wire format."""
