"""Private, sans-I/O internals shared by every adapter (WSGI, ASGI, Django, Flask).

Nothing here reads a socket, awaits or starts a thread. The request side (``request_tokens``) knows
the tenant and memoises tokens; the response side (``response``) is one state machine that says what
to send, or what it needs first (``Need``): the adapter then resolves and mints in its own context
(inline under WSGI, awaited under ASGI, in Django's sync thread) and resumes it, as h11 does.
"""
