"""Image work with pyvips: safe decoding, resizing and encoding, streamed rather than held."""
