"""Talking to remote Replicate-compatible providers that a job's model stage is handed to."""
