"""The benchmark's questions to the product's database, run under Django in the project's venv.

`python -m benchmarks.django_side ACTION [options]` prints one JSON document. benchmarks/run.py
calls it with DATABASE_URL pointing at the database being measured; it never serves traffic.
"""

import argparse
import json
import os
import sys
from datetime import timedelta
from urllib.parse import quote

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db.models import Count, F, Sum  # noqa: E402
from django.db.models.functions import Mod  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.seed_demo import seed_demo  # noqa: E402
from chat.models import Conversation, Message, Team  # noqa: E402
from chat.poll_pass import poll_pass_issue  # noqa: E402
from integrations.models import WebhookEvent  # noqa: E402

BENCH_USER = "bench-agent"


def bench_user():
    user, created = get_user_model().objects.get_or_create(username=BENCH_USER, defaults={"is_staff": True})
    if created or user.has_usable_password():
        # Once: a new unusable password changes the session hash and would log out every earlier session.
        user.set_unusable_password()
        user.save()
    user.groups.add(Group.objects.get(name="WhatsApp agents"))
    return user


def session_cookie(user):
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    # The product's session engine (cached_db), so the first poll finds the session in Redis.
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.set_expiry(timedelta(hours=6))
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def jwt_for(user):
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(hours=6))
    return str(token)


def url(name, *args, query=""):
    """The product's URL for a route name, or None while that route has not landed."""
    try:
        return reverse(name, args=args) + (f"?{query}" if query else "")
    except NoReverseMatch:
        return None


ENTITY = ("project", "1")
ENTITY_LINKS = 60  # more than the entity view's first page of 50, at both sizes


def busy_entity(user):
    """Make sure the measured record has more links than one page, so both sizes render the same 50 bubbles.

    seed_demo links about one message in a hundred, so its busy record has hundreds of links at a
    million messages but only a handful at a thousand; the newest unlinked messages make up the rest.
    """
    from links.models import EntityLink

    entity_type, entity_id = ENTITY
    linked = EntityLink.objects.filter(entity_type=entity_type, entity_id=entity_id)
    missing = ENTITY_LINKS - linked.count()
    if missing > 0:
        candidates = Message.objects.exclude(pk__in=linked.values("message_id")).order_by("-id")[:missing]
        EntityLink.objects.bulk_create(
            EntityLink(
                message=m, entity_type=entity_type, entity_id=entity_id, created_at=m.created_at, created_by=user
            )
            for m in candidates
        )
    return linked.count()


BENCH_TEAM = "Bench team"
FILTER_ROWS = 20  # each filter's page at both sizes: the small database has 25 conversations per filter


def share_the_inbox(user):
    """Once per database: a quarter of the conversations each mine (in the bench team), unassigned,
    resolved and snoozed, so every sidebar filter has more rows than its measured page at both sizes."""
    team, created = Team.objects.get_or_create(name=BENCH_TEAM)
    if not created:
        return team
    team.members.add(user)
    quarters = Conversation.objects.annotate(quarter=Mod(F("id"), 4))
    quarters.filter(quarter=0).update(assignee=user, team=team)
    quarters.filter(quarter=2).update(status=Conversation.Status.RESOLVED)
    later = timezone.now() + timedelta(days=30)
    quarters.filter(quarter=3).update(status=Conversation.Status.SNOOZED, snoozed_until=later)
    return team


def inbox(_options):
    """Everything the inbox measurements need: auth headers, ids and the URLs to hit."""
    user = bench_user()
    entity_links = busy_entity(user)
    team = share_the_inbox(user)
    longest = list(Conversation.objects.annotate(n=Count("messages")).order_by("-n", "id").values_list("id", "n")[:2])
    (a, a_count), (b, _) = longest[0], longest[-1]
    ids = list(Message.objects.filter(conversation_id=a).order_by("-id").values_list("id", flat=True)[:2])
    deep = Message.objects.filter(conversation_id=a).order_by("id").values_list("id", flat=True)[a_count // 2]
    chat = Conversation.objects.get(pk=a)
    now = quote(timezone.now().isoformat())  # "+00:00" must not turn into a space
    newest_at = quote(Message.objects.get(pk=ids[0]).updated_at.isoformat())
    window = "1" if chat.service_window_open() else "0"
    htmx = "HX-Request: true"
    cookie = session_cookie(user)
    headers_page = [f"Cookie: {cookie}", htmx]
    headers_api = [f"Authorization: Bearer {jwt_for(user)}"]
    # The pass a page's poll carries (chat.poll_pass), issued for this session as the page would be.
    page_request = RequestFactory().get("/")
    page_request.COOKIES.update([cookie.split("=", 1)])
    page_state = f"open={window}&pass={quote(poll_pass_issue(page_request, chat))}"
    poll = url("chat:conversation_poll", a, query=f"after={ids[0]}&since={now}&{page_state}")
    endpoints = {
        "trivial JSON view (baseline)": (url("bench_trivial"), headers_page),
        "trivial view, logged in (session, user, permission)": (url("bench_trivial_logged_in"), headers_page),
        "sidebar first page": (url("chat:sidebar") or url("chat:page"), headers_page),
        **{
            f"sidebar: {label}": (url("chat:sidebar", query=f"{query}&limit={FILTER_ROWS}"), headers_page)
            for label, query in (
                ("open, all", "status=open&owner=all"),
                ("open, mine", "status=open&owner=mine"),
                ("open, unassigned", "status=open&owner=unassigned"),
                ("open, team", f"status=open&owner=team:{team.pk}"),
                ("resolved", "status=resolved&owner=all"),
                ("snoozed", "status=snoozed&owner=all"),
            )
        },
        # Words in messages (chat.selectors.search): a word in about one text message in twelve, and one in none.
        "search: a word in many messages": (url("chat:sidebar", query="q=quotation"), headers_page),
        "search: a word in no message": (url("chat:sidebar", query="q=zeppelin"), headers_page),
        "open conversation (newest 50)": (url("chat:conversation", b), headers_page),
        "poll, nothing new": (poll, headers_page),
        # A client that saw the message before the newest polled before the newest arrived: its cursor is
        # older than that message (with `now`, the conversation's change mark would rightly answer 204).
        "poll, one new message": (
            url("chat:conversation_poll", a, query=f"after={ids[-1]}&since={newest_at}&{page_state}"),
            headers_page,
        ),
        "entity view": (url("links:entity", *ENTITY), headers_page),
        "older history, deep": (url("chat:conversation_older", a, query=f"before={deep}"), headers_page),
        "stats?days=30 (API)": (url("api:stats", query="days=30"), headers_api),
        "stats?days=365 (API, whole history)": (url("api:stats", query="days=365"), headers_api),
    }
    return {
        "messages": Message.objects.count(),
        "conversations": Conversation.objects.count(),
        "longest_conversation": {"id": a, "messages": a_count, "deep_before_id": deep},
        "entity": {"record": "/".join(ENTITY), "links": entity_links},
        "endpoints": {name: {"url": u, "headers": h} for name, (u, h) in endpoints.items()},
    }


# What the in-process table measures: the pages staff wait on, against the logged-in floor.
CPU_BASELINE = "trivial view, logged in (session, user, permission)"
CPU_ENDPOINTS = (
    CPU_BASELINE,
    "sidebar first page",
    "open conversation (newest 50)",
    "poll, one new message",
    "entity view",
)
BUBBLE = b'class="msg msg-'  # one per bubble (notes and activity lines included) in a page's HTML


def cpu(options):
    """CPU time per request in this process (Django's test client: every middleware, the session in
    Redis, PostgreSQL on loopback, no HTTP server), median of --runs after a warm-up, with the HTML
    size per bubble. Excludes the database's own CPU: this is what a web worker spends."""
    import statistics
    import time

    from django.conf import settings
    from django.test import Client

    described = inbox(options)["endpoints"]
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])  # the bench's hosts, not the test client's "testserver"
    results = {}
    for name in CPU_ENDPOINTS:
        endpoint = described[name]
        if endpoint["url"] is None:
            continue
        headers = dict(header.split(": ", 1) for header in endpoint["headers"])
        name_, value = headers.pop("Cookie").split("=", 1)
        client.cookies[name_] = value
        extra = {"HTTP_HX_REQUEST": headers["HX-Request"]} if "HX-Request" in headers else {}
        for _ in range(options.warmup):
            client.get(endpoint["url"], **extra)
        spent = []
        for _ in range(options.runs):
            started = time.process_time()
            response = client.get(endpoint["url"], **extra)
            spent.append((time.process_time() - started) * 1000)
        body = response.content
        bubbles = body.count(BUBBLE)
        results[name] = {
            "status": response.status_code,
            "cpu_ms": statistics.median(spent),
            "cpu_ms_min": min(spent),
            "cpu_ms_max": max(spent),
            "bytes": len(body),
            "bubbles": bubbles,
            "bytes_per_bubble": len(body) / bubbles if bubbles else None,
        }
    return results


def ingest_snapshot(options):
    """Counts that prove each delivery of a run stored once and processed once."""
    prefix = options.prefix
    since = timezone.datetime.fromisoformat(options.since)
    messages = Message.objects.filter(whatsapp_message_id__startswith=prefix)
    events = WebhookEvent.objects.filter(received_at__gte=since)
    phones = Conversation.objects.filter(other_party__startswith=options.phones)
    return {
        "messages": messages.count(),
        "distinct_wamids": messages.values("whatsapp_message_id").distinct().count(),
        "events": events.count(),
        "events_unprocessed": events.filter(processed_at=None).count(),
        "events_failed": events.exclude(processing_error="").count(),
        "unread_total": phones.aggregate(total=Sum("unread_count"))["total"] or 0,
    }


def queue_sends(options):
    """N queued outbound texts over C customers who wrote recently, each enqueued for the send task.

    Rows as chat.services.message_queue stores them, inserted in bulk so that queueing
    10,000 takes seconds; the measured part is the worker draining them.
    """
    from chat.stats import stats_add_messages
    from integrations.tasks import message_send_task

    user = bench_user()
    now = timezone.now()
    conversations = Conversation.objects.bulk_create(
        Conversation(
            other_party=f"+9197{options.tag % 100:02d}{n:06d}",
            last_inbound_at=now,
            last_message_at=now,
            last_created_at=now,
        )
        for n in range(options.conversations)
    )
    rows = Message.objects.bulk_create(
        (
            Message(
                conversation=chat,
                direction=Message.Direction.OUTBOUND,
                status=Message.Status.QUEUED,
                message_type=Message.Type.TEXT,
                message_body=f"Bench send {n}",
                from_user=user,
                to_phone=chat.other_party,
                other_party=chat.other_party,
                created_at=now,
                updated_at=now,
            )
            for n, chat in ((n, conversations[n % len(conversations)]) for n in range(options.count))
        ),
        batch_size=2000,
    )
    # Counted in the statistics' rollup as message_queue would have (chat.stats).
    stats_add_messages(messages=Message.objects.filter(pk__gte=rows[0].pk, pk__lte=rows[-1].pk))
    for message in rows:
        message_send_task.delay(message.pk)
    return {"queued": len(rows), "first_id": rows[0].pk, "last_id": rows[-1].pk}


def send_progress(options):
    """Where a batch of sends stands, and its rate by Meta's acceptance times (sent_at)."""
    rows = Message.objects.filter(pk__gte=options.first_id, pk__lte=options.last_id)
    statuses = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    times = sorted(rows.exclude(sent_at=None).values_list("sent_at", flat=True))
    result = {"statuses": statuses, "sent": len(times)}
    if len(times) > 1:
        span = (times[-1] - times[0]).total_seconds()
        per_second = {}
        for moment in times:
            key = int(moment.timestamp())
            per_second[key] = per_second.get(key, 0) + 1
        full_seconds = sorted(per_second)[1:-1]  # the first and last seconds are partial
        result.update(
            span_s=span,
            rate=(len(times) - 1) / span if span else None,
            max_in_one_second=max(per_second.values()),
            max_in_one_full_second=max((per_second[k] for k in full_seconds), default=None),
        )
    return result


def main(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("inbox")
    cpu_parser = sub.add_parser("cpu", help="CPU per request in-process, for the pages staff wait on")
    cpu_parser.add_argument("--runs", type=int, default=50)
    cpu_parser.add_argument("--warmup", type=int, default=5)
    snap = sub.add_parser("ingest-snapshot")
    snap.add_argument("--prefix", required=True)
    snap.add_argument("--since", required=True)
    snap.add_argument("--phones", required=True)
    queue = sub.add_parser("queue-sends")
    queue.add_argument("--count", type=int, required=True)
    queue.add_argument("--conversations", type=int, default=100)
    queue.add_argument("--tag", type=int, default=0)
    progress = sub.add_parser("send-progress")
    progress.add_argument("--first-id", type=int, required=True)
    progress.add_argument("--last-id", type=int, required=True)
    seed = sub.add_parser("seed", help="demo conversations and messages of every type (benchmarks.seed_demo)")
    seed.add_argument("--messages", type=int, default=1000, help="How many messages (default 1000).")
    seed.add_argument("--conversations", type=int, default=None, help="How many conversations (default 1%%).")
    seed.add_argument("--days", type=int, default=365, help="Spread the messages over this many days (a year).")
    seed.add_argument("--batch", type=int, default=5000, help="Rows per INSERT (default 5000).")
    seed.add_argument("--seed", type=int, default=1, help="Random seed, for repeatable data.")
    seed.add_argument("--jobs", type=int, default=2, help="Processes inserting in parallel (default 2; 1 on SQLite).")
    options = parser.parse_args(argv)
    action = {
        "inbox": inbox,
        "cpu": cpu,
        "ingest-snapshot": ingest_snapshot,
        "queue-sends": queue_sends,
        "send-progress": send_progress,
        "seed": lambda o: seed_demo(
            messages=o.messages, conversations=o.conversations, days=o.days, batch=o.batch, seed=o.seed, jobs=o.jobs
        ),
    }[options.action]
    print(json.dumps(action(options)))


if __name__ == "__main__":
    main(sys.argv[1:])
