"""Forms of the project page's CodeCarbon panel: map an experiment, upload an emissions.csv."""

import uuid

from django import forms

from assessments.models import Phase, Site

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ExperimentForm(forms.Form):
    experiment_id = forms.UUIDField(
        label="CodeCarbon experiment id",
        required=False,
        help_text="Leave blank for a new id; or paste the id your runs already use.",
    )
    phase = forms.ChoiceField(choices=[("", "The project's phase"), *Phase.choices], required=False)
    site = forms.ModelChoiceField(
        queryset=Site.objects.order_by("name"),
        required=False,
        empty_label="Not known (country or cloud region of the run)",
        help_text="Only where every run of the experiment runs at that site.",
    )

    def experiment_uuid(self) -> uuid.UUID:
        return self.cleaned_data["experiment_id"] or uuid.uuid4()


class EmissionsCsvForm(forms.Form):
    file = forms.FileField(label="CodeCarbon emissions.csv")
    timezone = forms.CharField(
        initial="UTC",
        max_length=64,
        help_text="Time zone of the machine that wrote the file (CodeCarbon writes local time).",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is over 20 MB; import it with manage.py.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None

    def clean_timezone(self):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.cleaned_data["timezone"].strip() or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"Unknown time zone {name!r}.") from None
