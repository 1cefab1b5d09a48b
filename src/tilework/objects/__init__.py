"""Object storage for inputs and outputs, and the signed URLs that hand them out."""
