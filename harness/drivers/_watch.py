"""What a browser tab sent and received during one operation.

A :class:`TabWatch` listens to a Playwright page's ``request`` and ``response`` events and
keeps, per operation, the POST requests the page fired and the main-document responses
(status, ``Cache-Control``, ``Location``). A POST that is a navigation started by
reload/back/forward is a *re-POST*: the browser re-sent a form without the user submitting
it, which is how a refresh of a payment result page can charge twice. A POST that failed
with ``ERR_CACHE_MISS`` never left the browser (Chromium refused to resend it from its
history), so it does not count as sent.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Request, Response

from harness._redact import redact_text


class TabWatch:
    """Collects POSTs and document responses of one page between ``begin`` and ``collect``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.posts: list[dict[str, Any]] = []
        self.documents: list[dict[str, Any]] = []
        self.late_answers: list[dict[str, Any]] = []
        self._open: dict[int, dict[str, Any]] = {}
        self._earlier: dict[int, dict[str, Any]] = {}
        """POSTs of earlier operations still waiting for their answer."""
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_failed)

    def begin(self) -> None:
        for key, post in self._open.items():
            if "status" not in post and post.get("failure") is None:
                self._earlier[key] = post
        self.posts = []
        self.documents = []
        self.late_answers = []
        self._open = {}

    def collect(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The POSTs fired, the documents loaded and the late answers seen since ``begin``."""
        posts, documents, late = self.posts, self.documents, self.late_answers
        self.begin()
        return posts, documents, late

    def _is_main_document(self, request: Request) -> bool:
        try:
            return request.is_navigation_request() and request.frame == self.page.main_frame
        except Exception:  # the frame went away while the event was dispatched
            return False

    def _on_request(self, request: Request) -> None:
        if request.method != "POST":
            return
        body = request.post_data_buffer
        post: dict[str, Any] = {
            "method": request.method,
            "url": redact_text(request.url),
            "size": len(body) if body is not None else 0,
            "navigation": self._is_main_document(request),
            "resource_type": request.resource_type,
            "failure": None,
        }
        self._open[id(request)] = post
        self.posts.append(post)

    def _on_failed(self, request: Request) -> None:
        self._earlier.pop(id(request), None)
        post = self._open.get(id(request))
        if post is not None:
            post["failure"] = request.failure or "failed"

    def _on_response(self, response: Response) -> None:
        request = response.request
        post = self._open.get(id(request))
        if post is not None:  # what a POST (a form or a fetch) was answered
            post["status"] = response.status
            post["cache_control"] = response.headers.get("cache-control")
        earlier = self._earlier.pop(id(request), None)
        main = self._is_main_document(request)
        if earlier is not None and not main:
            self.late_answers.append(
                {
                    "url": earlier["url"],
                    "method": request.method,
                    "status": response.status,
                    "cache_control": response.headers.get("cache-control"),
                    "resource_type": earlier.get("resource_type"),
                }
            )
        if not main:
            return
        headers = response.headers
        self.documents.append(
            {
                "url": redact_text(response.url),
                "method": request.method,
                "status": response.status,
                "cache_control": headers.get("cache-control"),
                "location": headers.get("location"),
            }
        )


NEVER_SENT = ("ERR_CACHE_MISS", "ERR_INTERNET_DISCONNECTED", "ERR_CONNECTION_REFUSED")
"""Chromium failures that mean the request never reached any server."""


def was_sent(post: dict[str, Any]) -> bool:
    """Whether a recorded POST may have reached the server."""
    failure = str(post.get("failure") or "")
    return not any(code in failure for code in NEVER_SENT)
