"""Root routes. Unknown /api/ paths answer JSON like the rest of the API; pages answer Django's
plain 404 page."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("collectors.urls")),
    path("", include("assessments.urls")),
]


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": f"No API resource at {request.path}.", "details": []}, status=404
        )
    return page_not_found(request, exception)


handler404 = not_found
