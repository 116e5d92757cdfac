"""Stage 5: the interfaces: the Python API (Assistant), the command line and the web UI."""
