"""Authentication of the read API: a logged-in session or a personal API token (Bearer)."""

import json
from functools import wraps

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from assessments.models import ApiToken
from greenai_site.tokens import bearer_token, digest_matches, token_prefix

PERSONAL_TOKEN_KIND = "gat"
_CSRF = CsrfViewMiddleware(lambda request: None)


def json_error(status: int, error: str, details: list | None = None) -> JsonResponse:
    return JsonResponse({"error": error, "details": details or []}, status=status)


def api_token_from_request(request) -> ApiToken | None:
    """The active personal token the request carries (its user active too), or None."""
    token = bearer_token(request)
    if token is None:
        return None
    prefix = token_prefix(token, PERSONAL_TOKEN_KIND)
    if prefix is None:
        return None
    api_token = (
        ApiToken.objects.select_related("user")
        .filter(token_prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_token is None or not digest_matches(token, api_token.token_digest):
        return None
    if not api_token.user.is_active:
        return None
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=timezone.now())
    return api_token


def token_may(request, scope: str) -> bool:
    """Whether the request's credentials allow `scope`: a session allows everything its user's
    role allows; a personal token only what its scope names (work includes read)."""
    api_token = getattr(request, "api_token", None)
    if api_token is None:
        return True
    return scope == ApiToken.Scope.READ or api_token.scope == scope


def api_login_required(view):
    """Session or personal token; token requests skip CSRF since no cookie authenticates them."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.headers.get("Authorization"):
            api_token = api_token_from_request(request)
            if api_token is None:
                return json_error(401, "Invalid or revoked API token.")
            request.user = api_token.user
            request.api_token = api_token
            request._dont_enforce_csrf_checks = True
        elif not request.user.is_authenticated:
            return json_error(401, "Log in or send 'Authorization: Bearer <personal API token>'.")
        else:
            # The view is csrf_exempt so token clients need no cookie; a session still must
            # pass the CSRF check, or a hostile page could post with the user's cookie.
            rejected = _CSRF.process_view(request, None, (), {})
            if rejected is not None:
                return json_error(403, "CSRF check failed: send the X-CSRFToken header.")
        return view(request, *args, **kwargs)

    wrapper.csrf_exempt = True
    return wrapper


def parse_json_body(request):
    try:
        return json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"Body is not valid JSON: {exc}") from exc
