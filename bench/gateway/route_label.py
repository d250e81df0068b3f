"""What naming the route of the request metrics costs per request (issue 13): the customer service's app (all its
routers, ~80 routes), for a read of one customer and for the last-declared route, named (a) as
prometheus_fastapi_instrumentator's middleware did, matching the request against the routes before it runs, and
(b) as crm_shared.observability.RouteMetricsMiddleware does, from the route the router put in `scope["route"]`.
Both give the same label (checked); best of `--repeat` timings of `--number` calls each, CPU in this process.

    .venv/bin/python bench/gateway/route_label.py [--number 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import timeit
import uuid

from prometheus_fastapi_instrumentator.routing import _effective_routes
from starlette.requests import Request

from crm_customer.config import Settings
from crm_customer.main import create_app
from crm_shared import testing  # noqa: F401  (sets the run's secrets in the environment, as the other benches)
from crm_shared.observability import RouteMetricsMiddleware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    # No database is touched: the app is only routed against, never started.
    url = "postgresql+asyncpg://bench@127.0.0.1:1/none"
    app = create_app(Settings(database_url=url, environment="test", log_level="WARNING"))
    middleware = RouteMetricsMiddleware(app)
    routes = [r for r in _effective_routes(app.routes) if "GET" in (getattr(r, "methods", None) or ())]
    cases = {
        "GET /api/v1/customers/{id}": ("/api/v1/customers/{customer_id:uuid}", f"/api/v1/customers/{uuid.uuid4()}"),
        "the last GET route": (routes[-1].path, routes[-1].path.replace("{", "").replace("}", "").replace(":uuid", "")),
    }
    print(
        f"customer service: {len(list(_effective_routes(app.routes)))} routes; CPU per request, best of {args.repeat}"
    )
    for name, (template, path) in cases.items():
        before = {"type": "http", "method": "GET", "path": path, "root_path": "", "app": app, "headers": []}
        before["query_string"] = b""
        route = next(r.original_route for r in _effective_routes(app.routes) if r.path == template)
        after = {**before, "route": route}
        old = middleware._get_handler(Request(before))
        new = middleware._label(after, before)
        assert old == new == (template, True), (old, new)
        n, r = args.number, args.repeat
        t_old = min(timeit.repeat(lambda b=before: middleware._get_handler(Request(b)), number=n, repeat=r))
        t_new = min(timeit.repeat(lambda a=after, b=before: middleware._label(a, b), number=n, repeat=r))
        print(
            f"  {name:<28} matching again {t_old / args.number * 1e6:7.1f} us   from scope['route'] "
            f"{t_new / args.number * 1e6:5.2f} us   (label {template})"
        )


if __name__ == "__main__":
    main()
