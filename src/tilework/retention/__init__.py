"""Retention: ended jobs deleted once their time is up (rows and files), a succeeded job's
intermediate files as soon as it ends, and a job on request."""
