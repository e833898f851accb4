"""manage.py createapitoken USERNAME: a personal read-API token, printed once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assessments.organisation.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it once (only a hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to recognise the token by.")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        _, token = api_token_create(user=user, name=name)
        self.stdout.write(token)
        self.stderr.write(
            "Store this token now: it is shown only once. Use it as "
            "'Authorization: Bearer <token>'."
        )
