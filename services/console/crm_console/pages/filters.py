"""Reading a page's filters from its query string: only the names its API takes, lists kept as lists."""

from __future__ import annotations

from typing import Any

from fastapi import Request


def query(request: Request, *names: str, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    params = request.query_params
    chosen: dict[str, Any] = {}
    for name in names:
        if name in lists:
            values = [v for v in params.getlist(name) if v]
            if values:
                chosen[name] = values
        elif params.get(name):
            chosen[name] = params[name]
    return chosen
