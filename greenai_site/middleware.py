"""Request checks that hold for every view, API and pages alike.

ApiMethodMiddleware answers 405 with an Allow header to a method an API path does not declare in
the OpenAPI schema, before the control-character rule, the CSRF check or authentication can give
another answer: the method is wrong whoever asks (docs/security.md).

ControlCharacterMiddleware refuses query strings and form fields that carry NUL or another
control character before any view sees them: PostgreSQL cannot store NUL in text, and no name,
filter or note of this product legitimately holds a control character (form fields may hold the
line breaks and tabs of a text area). One place, so no view has to remember it.
"""

import unicodedata

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

from greenai_site.openapi import declared_methods

# Line breaks and tabs are text in a multi-line form field; nowhere else.
_FORM_WHITESPACE = {"\t", "\n", "\r"}
_FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def control_character(text: str, allowed: set[str] = frozenset()) -> str | None:
    """The first control character (Unicode category Cc) in text that is not allowed, or None."""
    for char in text:
        if char not in allowed and unicodedata.category(char) == "Cc":
            return char
    return None


def _bad_field(data, allowed: set[str]) -> tuple[str, str] | None:
    for key, values in data.lists():
        for text in (key, *values):
            char = control_character(text, allowed)
            if char is not None:
                return key, char
    return None


class ApiMethodMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            try:
                view = resolve(request.path_info).func
            except Resolver404:
                view = None
            allowed = declared_methods(view) if view is not None else []
            # A view that counts every answer it gives (the ingest: 405s on /metrics too) checks
            # the method itself, first.
            if (
                allowed
                and request.method not in allowed
                and not getattr(view, "answers_405_itself", False)
            ):
                return HttpResponseNotAllowed(allowed)
        return self.get_response(request)


class ControlCharacterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = _bad_field(request.GET, set())
        where = "query parameter"
        if bad is None and request.method == "POST" and self._is_form(request):
            # Only form bodies are parsed here: JSON bodies (the APIs) are read by their views,
            # which validate every string themselves.
            bad = _bad_field(request.POST, _FORM_WHITESPACE)
            where = "form field"
        if bad is None:
            return self.get_response(request)
        name, char = bad
        message = f"The {where} {name!r} contains the control character U+{ord(char):04X}."
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"error": message, "details": [{"field": name, "message": "control character"}]},
                status=400,
            )
        return HttpResponse(
            render_to_string("400.html", {"message": message}, request=None),
            status=400,
        )

    @staticmethod
    def _is_form(request) -> bool:
        return request.content_type in _FORM_CONTENT_TYPES


def client_address(request) -> str | None:
    """The address of the client, for the login throttle.

    Behind the TLS proxy (SECURE_PROXY_SSL=1) every connection comes from the proxy, which
    appends the address it saw to X-Forwarded-For: its right-most entry is the one no client can
    forge. Without a proxy, the connection's own address.
    """
    if settings.SECURE_PROXY_SSL:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR")
