"""streamlog."""
