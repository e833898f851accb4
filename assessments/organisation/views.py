"""The methodology page: docs/methodology.md plus the factors in use and the data gaps."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from assessments.organisation.methodology import methodology_context


@login_required
def methodology(request):
    return render(request, "assessments/methodology.html", methodology_context())
