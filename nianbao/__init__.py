"""The application layer: command line, terminal views."""
