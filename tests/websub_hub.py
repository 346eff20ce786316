"""A real WebSub hub for the tests: PyPI's flask-websub, run as its own process.

    python tests/websub_hub.py PORT DATABASE

Celery runs its tasks eagerly, in the hub's own request threads, so no broker is needed:
a publish makes the hub fetch the topic from feedsvc and POST it to every subscriber.
"""

import sys

from celery import Celery
from flask import Flask
from flask_websub.hub import Hub, SQLite3HubStorage


def create_hub(database: str) -> Flask:
    app = Flask("websub-hub")
    app.config["PUBLISH_SUPPORTED"] = True  # hub.mode=publish, as feedsvc sends it
    celery = Celery("websub-hub", broker="memory://")
    celery.conf.task_always_eager = True
    hub = Hub(SQLite3HubStorage(database), celery, BACKOFF_BASE=0.1, MAX_ATTEMPTS=3,
              REQUEST_TIMEOUT=5)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))
    return app


if __name__ == "__main__":
    port, database = int(sys.argv[1]), sys.argv[2]
    create_hub(database).run(host="127.0.0.1", port=port, threaded=True)
