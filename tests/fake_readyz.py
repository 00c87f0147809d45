"""The web UI's readiness endpoint as the fake engine's "webui container" publishes it: a process
named docker-proxy (what holds a published port on a Docker host) listening on 127.0.0.1:PORT.

GET /api/health/readyz answers in the stack's shape (packages/webui/api/health.py): `ready`,
`check`, and `services` with redis, database, qdrant, search_api, embedding. A fresh web UI
reports `embedding` unhealthy while ready. With `"readyz": "dependency-down"` in the fake's
config.json, qdrant is down: 503, ready false.
"""

from __future__ import annotations

import ctypes
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

PORT = int(sys.argv[1])
CONFIG = Path(sys.argv[2])


def body() -> tuple[int, dict[str, object]]:
    wish = json.loads(CONFIG.read_text()).get("readyz", "ready") if CONFIG.exists() else "ready"
    ok = {"status": "healthy", "message": "connection successful"}
    services = {
        "redis": ok,
        "database": ok,
        "qdrant": ok,
        "search_api": ok,
        "embedding": {"status": "unhealthy", "message": "Embedding service not initialized"},
    }
    if wish == "dependency-down":
        services["qdrant"] = {"status": "unhealthy", "message": "Qdrant connection failed"}
        return 503, {"ready": False, "check": "readiness", "services": services}
    return 200, {"ready": True, "check": "readiness", "services": services}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code, data = body() if self.path == "/api/health/readyz" else (404, {"detail": "Not Found"})
        payload = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ctypes.CDLL(None).prctl(15, b"docker-proxy", 0, 0, 0)  # PR_SET_NAME
    HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
