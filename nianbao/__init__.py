"""nianbao."""
