"""integrations.sharepoint against a loopback identity platform + Graph drive over real HTTPS."""

import hashlib
import io
import logging
import os

import pytest

from integrations.sharepoint import CHUNK_SIZE, CHUNK_UNIT, SharePointError, safe_name, sharepoint_client
from integrations.tests.fake_graph import FakeGraph, use_fake_graph

FOLDER = ["Madio ERP", "WhatsApp Media", "2026", "11", "+919876543210"]
MiB = 1024 * 1024


@pytest.fixture
def graph(tmp_path, settings, monkeypatch):
    fake = FakeGraph()
    with fake.running(tmp_path):
        use_fake_graph(fake, settings, monkeypatch)
        yield fake


def upload(content, name="photo.jpg", folder=FOLDER, session_key=None):
    return sharepoint_client().upload(
        folder=folder, name=name, fileobj=io.BytesIO(content), size=len(content), session_key=session_key
    )


def chunk_ranges(graph):
    return [entry[4] for entry in graph.calls("chunk")]


def test_it_uploads_a_small_file_with_one_put_after_creating_the_folders(graph):
    content = os.urandom(200_000)

    item = upload(content)

    assert graph.content([*FOLDER, "photo.jpg"]) == content
    assert item["size"] == len(content)
    assert item["webUrl"].startswith("https://contoso.sharepoint.com/")
    assert len(graph.calls("folder")) == len(FOLDER)
    assert len(graph.calls("put")) == 1
    assert not graph.calls("create_session")
    assert all(entry[2]["User-Agent"].startswith("NONISV|Madio|") for entry in graph.log)


def test_it_sends_a_20_mb_file_through_an_upload_session_in_320_kib_multiples(graph):
    content = os.urandom(20_000_000)

    item = upload(content, name="video.mp4", session_key="sharepoint:test:20mb")

    stored = graph.content([*FOLDER, "video.mp4"])
    assert hashlib.sha256(stored).digest() == hashlib.sha256(content).digest()
    assert item["size"] == 20_000_000
    assert not graph.calls("put")
    assert len(graph.calls("create_session")) == 1
    sizes = [entry[3] for entry in graph.calls("chunk")]
    assert sizes == [CHUNK_SIZE, 20_000_000 - CHUNK_SIZE]
    assert all(size % CHUNK_UNIT == 0 and 5 * MiB <= size <= 10 * MiB for size in sizes[:-1])
    assert chunk_ranges(graph) == [
        f"bytes 0-{CHUNK_SIZE - 1}/20000000",
        f"bytes {CHUNK_SIZE}-19999999/20000000",
    ]
    assert graph.auth_on_upload_url == 0
    assert all("Authorization" not in entry[2] for entry in graph.calls("chunk"))


def test_it_resumes_an_interrupted_chunk_from_next_expected_ranges(graph):
    content = os.urandom(25 * MiB)
    graph.interrupt_chunk(3)  # the session breaks after two chunks

    upload(content, name="long.mp4")

    assert graph.content([*FOLDER, "long.mp4"]) == content
    assert len(graph.calls("create_session")) == 1
    assert len(graph.calls("status")) == 1
    total = len(content)
    assert chunk_ranges(graph) == [
        f"bytes 0-{CHUNK_SIZE - 1}/{total}",
        f"bytes {CHUNK_SIZE}-{2 * CHUNK_SIZE - 1}/{total}",
        f"bytes {2 * CHUNK_SIZE}-{total - 1}/{total}",  # cut half way
        f"bytes {2 * CHUNK_SIZE}-{total - 1}/{total}",  # sent again from where Graph said
    ]


def test_it_resumes_a_remembered_session_on_the_next_attempt(graph):
    content = os.urandom(12 * MiB)
    graph.fail("chunk", 503, on_call=2)

    with pytest.raises(SharePointError) as failure:
        upload(content, name="clip.mp4", session_key="sharepoint:test:resume")
    assert failure.value.retryable
    upload(content, name="clip.mp4", session_key="sharepoint:test:resume")

    assert graph.content([*FOLDER, "clip.mp4"]) == content
    assert len(graph.calls("create_session")) == 1
    assert chunk_ranges(graph)[-1] == f"bytes {CHUNK_SIZE}-{len(content) - 1}/{len(content)}"


def test_it_starts_over_when_the_session_expired(graph):
    content = os.urandom(12 * MiB)
    graph.fail("chunk", 503, on_call=2)
    with pytest.raises(SharePointError):
        upload(content, name="clip.mp4", session_key="sharepoint:test:expired")
    graph.expire_sessions()

    upload(content, name="clip.mp4", session_key="sharepoint:test:expired")

    assert graph.content([*FOLDER, "clip.mp4"]) == content
    assert len(graph.calls("create_session")) == 2
    assert chunk_ranges(graph)[-2:] == [
        f"bytes 0-{CHUNK_SIZE - 1}/{len(content)}",
        f"bytes {CHUNK_SIZE}-{len(content) - 1}/{len(content)}",
    ]


def test_it_starts_over_when_a_chunk_finds_the_session_gone(graph):
    content = os.urandom(12 * MiB)
    graph.fail("chunk", 404, code="itemNotFound", on_call=2)

    upload(content, name="clip.mp4")

    assert graph.content([*FOLDER, "clip.mp4"]) == content
    assert len(graph.calls("create_session")) == 2


def test_it_counts_an_existing_folder_as_created_and_remembers_folders(graph):
    for depth in range(1, len(FOLDER) + 1):
        graph.items[tuple(FOLDER[:depth])] = {"id": f"f{depth}", "name": FOLDER[depth - 1], "folder": {}}

    upload(b"first", name="a.txt")
    upload(b"second", name="b.txt")

    assert len(graph.calls("folder")) == len(FOLDER)  # each answered 409, none asked twice
    assert graph.content([*FOLDER, "b.txt"]) == b"second"


def test_it_asks_for_one_token_for_many_uploads(graph):
    for number in range(5):
        upload(b"x" * 10, name=f"file{number}.txt")

    assert graph.token_requests == 1
    assert graph.discovery_requests == 1


def test_it_signs_in_again_once_when_graph_says_the_token_expired(graph):
    upload(b"one", name="one.txt")
    graph.expire_tokens()

    upload(b"two", name="two.txt")

    assert graph.content([*FOLDER, "two.txt"]) == b"two"
    assert graph.token_requests == 2


def test_it_keeps_an_earlier_upload_of_the_same_file(graph):
    upload(b"same bytes", name="doc.pdf")

    item = upload(b"same bytes", name="doc.pdf")

    assert item["name"] == "doc.pdf"
    assert [path[-1] for path in graph.items if path[:-1] == tuple(FOLDER)] == ["doc.pdf"]


def test_it_lets_graph_rename_when_another_file_has_the_name(graph):
    upload(b"someone else's", name="doc.pdf")

    item = upload(b"our file", name="doc.pdf")

    assert item["name"] == "doc 1.pdf"
    assert graph.content([*FOLDER, "doc 1.pdf"]) == b"our file"


def test_it_lets_graph_rename_a_large_file_that_clashes_at_commit(graph):
    content = os.urandom(6 * MiB)
    graph.fail("chunk", 503, on_call=1)
    with pytest.raises(SharePointError):
        upload(content, name="big.bin", session_key="sharepoint:test:clash")
    graph.add_file([*FOLDER, "big.bin"], b"another file")  # appears while we wait

    item = upload(content, name="big.bin", session_key="sharepoint:test:clash")

    assert item["name"] == "big 1.bin"
    assert graph.content([*FOLDER, "big 1.bin"]) == content


@pytest.mark.parametrize(
    ("kind", "status", "retryable"),
    [
        ("put", 429, True),
        ("put", 503, True),
        ("put", 500, True),
        ("put", 504, True),
        ("folder", 502, True),
        ("put", 507, False),
        ("put", 403, False),
        ("put", 400, False),
        ("create_session", 507, False),
        ("create_session", 503, True),
    ],
)
def test_it_says_whether_a_graph_failure_is_worth_retrying(graph, kind, status, retryable):
    graph.fail(kind, status)
    content = b"z" * (5 * MiB if kind == "create_session" else 100)

    with pytest.raises(SharePointError) as failure:
        upload(content, name="f.bin")

    assert failure.value.retryable is retryable
    assert failure.value.status == status
    assert str(status) in str(failure.value)


def test_it_honours_retry_after(graph):
    graph.fail("put", 429, retry_after=120)

    with pytest.raises(SharePointError) as failure:
        upload(b"data")

    assert failure.value.retryable
    assert failure.value.retry_after == 120
    assert failure.value.code == "tooManyRequests"


def test_it_calls_an_unknown_site_a_permanent_failure(graph, settings):
    settings.SHAREPOINT_SITE_ID = "contoso.sharepoint.com,nope,nope"

    with pytest.raises(SharePointError) as failure:
        upload(b"data")

    assert not failure.value.retryable
    assert failure.value.code == "itemNotFound"


def test_it_calls_a_wrong_client_secret_a_permanent_failure(graph, settings):
    settings.SHAREPOINT_CLIENT_SECRET = "wrong"

    with pytest.raises(SharePointError) as failure:
        upload(b"data")

    assert not failure.value.retryable
    assert failure.value.code == "invalid_client"
    assert "wrong" not in str(failure.value)


def test_it_retries_later_when_the_token_endpoint_is_down(graph):
    graph.fail("token", 503)

    with pytest.raises(SharePointError) as failure:
        upload(b"data")

    assert failure.value.retryable


def test_it_retries_later_when_graph_cannot_be_reached(graph, settings):
    upload(b"warm up the token")
    settings.GRAPH_API_BASE_URL = "https://127.0.0.1:9"  # nothing listens on the discard port

    with pytest.raises(SharePointError) as failure:
        upload(b"data")

    assert failure.value.retryable


def test_it_refuses_chunk_sizes_graph_would_not_commit():
    from integrations.sharepoint import GraphClient

    with pytest.raises(ValueError, match="320 KiB"):
        GraphClient(
            tenant_id="t",
            client_id="c",
            client_secret="s",
            site_id="x",
            authority="https://a",
            base_url="https://b",
            chunk_size=5 * MiB + 1,
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ('a"b*c:d<e>f?g/h\\i|j.txt', "a_b_c_d_e_f_g_h_i_j.txt"),
        ("  spaced out  .jpg  ", "spaced out  .jpg"),
        ("...dots...", "dots"),
        ("trailing dot.", "trailing dot"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.pdf", "_LPT1.pdf"),
        ("COM0", "_COM0"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ("console.log", "console.log"),
        ("desktop.ini", "_desktop.ini"),
        (".lock", "_lock"),
        ("~$report.docx", "_$report.docx"),
        ("my_vti_file.txt", "myvti_file.txt"),
        ("100% #1.png", "100_ _1.png"),
        ("tab\there\x00.txt", "tab_here_.txt"),
        ("", "file"),
        ("   ", "file"),
        ("///", "___"),
        ("e\u0301te\u0301.jpg", "\u00e9t\u00e9.jpg"),
        ("😀 smile.webp", "😀 smile.webp"),
    ],
)
def test_it_makes_names_sharepoint_accepts(name, expected):
    assert safe_name(name) == expected


def test_it_shortens_long_names_and_keeps_the_extension():
    name = safe_name("x" * 300 + ".pdf", max_length=50)

    assert len(name) == 50
    assert name.endswith("x.pdf")


def test_it_never_leaves_a_trailing_dot_or_space_after_shortening():
    name = safe_name("a" * 10 + " . " + "b" * 20, max_length=12)

    assert not name.endswith((" ", "."))
    assert len(name) <= 12


def test_it_never_logs_the_secret_the_token_or_an_upload_url(graph, settings, caplog):
    content = os.urandom(6 * MiB)
    graph.interrupt_chunk(1)
    with caplog.at_level(logging.INFO):
        upload(content, name="clip.mp4")
        graph.expire_tokens()
        upload(b"small", name="small.txt")
        settings.SHAREPOINT_CLIENT_SECRET = "another-secret-value"
        with pytest.raises(SharePointError):
            upload(b"data", name="refused.txt")

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "resuming" in logged  # the interruption was logged, without its URL
    assert graph.secret not in logged
    assert "another-secret-value" not in logged
    assert "tempauth" not in logged
    assert not any(token in logged for token in graph.tokens)


def test_it_tries_again_once_with_a_new_token_after_a_401(graph):
    graph.fail("put", 401, code="InvalidAuthenticationToken")

    upload(b"data", name="a.txt")

    assert graph.content([*FOLDER, "a.txt"]) == b"data"
    assert graph.token_requests == 2


def test_it_calls_a_second_401_in_a_row_a_permanent_failure(graph):
    graph.fail("put", 401, code="InvalidAuthenticationToken")
    graph.fail("put", 401, code="InvalidAuthenticationToken")

    with pytest.raises(SharePointError) as failure:
        upload(b"data", name="a.txt")

    assert not failure.value.retryable
    assert failure.value.status == 401


@pytest.mark.parametrize("size", [1000, 6 * MiB])
def test_it_checks_the_size_sharepoint_kept(graph, size):
    graph.short_commits = 1

    with pytest.raises(SharePointError) as failure:
        upload(os.urandom(size), name="short.bin")

    assert failure.value.retryable
    assert failure.value.code == "sizeMismatch"
