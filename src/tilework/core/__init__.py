"""Value objects, error codes and settings: the layer every other layer may import."""
