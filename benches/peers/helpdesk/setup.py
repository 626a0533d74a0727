"""Migrates the peer's database and writes the API token of a staff user with one queue to
token.txt (run by benches/run-all inside the peer's virtual environment)."""

import os
import sys

import django

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhproj.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from helpdesk.models import Queue  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

call_command("migrate", verbosity=0)
user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})
Queue.objects.get_or_create(id=1, defaults={"title": "Hotline", "slug": "hotline"})
token, _ = Token.objects.get_or_create(user=user)
with open(os.path.join(os.environ["DH_DATA"], "token.txt"), "w") as f:
    f.write(token.key)
print("django-helpdesk ready")
