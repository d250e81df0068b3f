"""After a form's write: back to the page it came from, or the API's refusal in words with its status."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from ..gateway import Answer, Problem
from ..render import render
from ..session import Viewer
from ..signin import safe_next


def refused(request: Request, viewer: Viewer, outcome: Answer, title: str, back: str) -> Response:
    """A write the API refused: its problem in words, with the API's 4xx (an upstream failure as 502)."""
    problem = outcome.problem or Problem(502, "No answer")
    status = problem.status if problem.status < 500 else 502
    return render(
        request, "error.html", status_code=status, viewer=viewer, title=title, detail=problem.words, back=back
    )


def done_or_refused(request: Request, viewer: Viewer, outcome: Answer, title: str, back: str) -> Response:
    """The page the form came from (a path of this site only) when the API took the write."""
    target = safe_next(back)
    if outcome.ok:
        return RedirectResponse(target, status_code=303)
    return refused(request, viewer, outcome, title, target)
