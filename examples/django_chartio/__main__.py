"""``python -m examples.django_chartio``: the Chartio example, served by werkzeug on 127.0.0.1.

The chart's URLs carry tokens, so requests are logged through the demo's handler that blanks tokens
out of every line. ``EMBED_SIGNING_KEY`` is used as the Chartio secret when set, otherwise one is made
for the run (see settings.py); neither is ever printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

DEFAULT_PORT = 5171


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.django_chartio", description="The Chartio embed example on Django."
    )
    parser.add_argument(
        "--port",
        type=int,
        choices=range(65536),
        metavar="PORT",
        default=int(os.environ.get("DEMO_HOST_PORT", DEFAULT_PORT)),
        help="the port on 127.0.0.1, 0 for any free one (env DEMO_HOST_PORT, default %(default)s)",
    )
    return parser.parse_args(argv)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_chartio.settings")
    # Imported here: Django must not read settings before DJANGO_SETTINGS_MODULE is set.
    from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]
    from werkzeug.serving import make_server

    from examples.demo import BIND, RedactingRequestHandler

    application = get_wsgi_application()  # builds the middleware: a bad EMBED_MIDDLEWARE stops here
    server = make_server(BIND, args.port, application, threaded=True, request_handler=RedactingRequestHandler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(f"Open http://{BIND}:{server.server_port}/ and log in as alice (Acme Air) or bob (Globex Airways)")
    print("The dashboard iframe is served by the same app, at /chartio/d/38727/<token>. Ctrl-C stops it.")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
