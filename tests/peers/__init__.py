"""Independent protocol peers for the transport tests: nginx in front of the
fake server, hypercorn serving a small ASGI app, and proxy.py.

``peers.fixtures`` has the pytest fixtures; the ``run_*`` context managers
start a peer outside pytest too.  Install what pip does not bring with
``bash tools/peers.sh``.
"""
