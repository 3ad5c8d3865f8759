"""The action server (`python -m bot.action_server`): rasa-sdk's app, trusting only the Rasa server.

rasa-sdk's own `rasa run actions` listens on 0.0.0.0 for anyone, and on an error answers 500 with
the whole request (the tracker: messages, medicines, results) in its body, which Rasa then logs.
Here, on rasa-sdk's own `create_app`:
- it listens on CARENAV_ACTIONS_HOST (default 127.0.0.1, this machine only);
- every call but `GET /health` must carry the installation's action secret in the
  `X-CareNav-Action-Secret` header (bot.identity.action_secret; the Rasa server sends it, see
  bot.runner.write_endpoints); anything else gets 401 and runs nothing;
- an error answers 500 with a fixed body, and the log names the error type only.
"""
from __future__ import annotations

import argparse
import hmac
import logging

from sanic import response

from bot.identity import ACTION_SECRET_HEADER, action_secret
from bot.settings import ACTIONS_HOST

log = logging.getLogger(__name__)


def create_app(actions_package: str = "actions", secret: str | None = None):
    from rasa_sdk.endpoint import create_app as sdk_app

    expected = (secret or action_secret()).encode()
    app = sdk_app(actions_package, cors_origins=None)

    @app.middleware("request")
    async def only_the_rasa_server(request):
        if request.path == "/health":
            return None
        given = request.headers.get(ACTION_SECRET_HEADER, "")
        try:
            ok = bool(given) and hmac.compare_digest(given.encode(), expected)
        except (UnicodeEncodeError, TypeError):
            ok = False
        if not ok:
            log.warning("action server: refused a call to %s without the action secret", request.path[:64])
            return response.json({"error": "unauthorized"}, status=401)
        return None

    # replaces rasa-sdk's handler, which echoes the request body (the tracker) in its answer
    @app.exception(Exception)
    async def failed(request, exception: Exception):
        status = getattr(exception, "status_code", 500) or 500
        if status >= 500:
            log.error("action server: %s while serving %s", type(exception).__name__, request.path[:64])
        return response.json({"error": "the action server could not handle this request"},
                             status=status if 400 <= status < 600 else 500)

    return app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.action_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--host", default=ACTIONS_HOST)
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(args.actions)
    log.info("action server on http://%s:%s (calls need %s)", args.host, args.port, ACTION_SECRET_HEADER)
    app.run(args.host, args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
