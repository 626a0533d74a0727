"""django-helpdesk 2.6.1's ticket search as the peer of Opsline's knowledge bench (run by
benches/knowledge.rs inside the peer's virtual environment, from its project directory).

argv[1] is a JSON file written by the bench: {"tickets": [[title, description, resolution], ...],
"queries": [text, ...]}. The tickets go into a database of their own ($DH_DB, kept between runs
while the corpus is the same), closed. Each query then runs through the ticket list's own filter,
helpdesk.query.get_search_filter_args (the text as a case-insensitive substring of the id, title,
description, resolution, priority, e-mail addresses, custom fields and dates), distinct, newest
first, the first five rows read, timed in process. Prints JSON: the times in microseconds and how
many queries found a ticket."""

import hashlib
import json
import os
import sys
import time

import django

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhproj.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from helpdesk.models import Queue, Ticket  # noqa: E402
from helpdesk.query import get_search_filter_args  # noqa: E402

with open(sys.argv[1], "rb") as f:
    raw = f.read()
corpus = json.loads(raw)
digest = hashlib.sha256(json.dumps(corpus["tickets"]).encode()).hexdigest()
stamp = os.environ["DH_DB"] + ".corpus"

call_command("migrate", verbosity=0)
queue, _ = Queue.objects.get_or_create(id=1, defaults={"title": "Hotline", "slug": "hotline"})
if not os.path.exists(stamp) or open(stamp).read() != digest:
    Ticket.objects.all().delete()
    batch = []
    with transaction.atomic():
        for title, description, resolution in corpus["tickets"]:
            batch.append(
                Ticket(
                    queue=queue,
                    title=title[:200],
                    description=description,
                    resolution=resolution,
                    status=Ticket.CLOSED_STATUS,
                    submitter_email="caller@example.org",
                )
            )
            if len(batch) == 2000:
                Ticket.objects.bulk_create(batch)
                batch = []
        Ticket.objects.bulk_create(batch)
    with open(stamp, "w") as f:
        f.write(digest)

times, found = [], 0
for text in corpus["queries"]:
    started = time.perf_counter()
    rows = list(Ticket.objects.select_related().filter(get_search_filter_args(text)).distinct().order_by("-id")[:5])
    times.append(int((time.perf_counter() - started) * 1e6))
    found += bool(rows)
print(json.dumps({"times": times, "found": found}))
