"""Process plumbing: the app factory, settings, the WSGI server, the runtime, TLS and observability."""
