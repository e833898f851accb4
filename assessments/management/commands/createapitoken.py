"""manage.py createapitoken USERNAME [--scope read|work]: a personal API token, printed once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assessments.models import ApiToken
from assessments.organisation.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it once (only a hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label to recognise the token by.")
        parser.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            default=ApiToken.Scope.READ,
            help="read (default): the read API only; work: also record work units "
            "(POST /api/v1/projects/<slug>/work), within what the user's role allows.",
        )

    def handle(self, *args, username, name, scope, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        _, token = api_token_create(user=user, name=name, scope=scope)
        self.stdout.write(token)
        self.stderr.write(
            "Store this token now: it is shown only once. Use it as "
            "'Authorization: Bearer <token>'."
        )
