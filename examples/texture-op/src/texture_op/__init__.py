"""An example of a user's own tilework operation (see tilework's README, "Your own operations")."""
