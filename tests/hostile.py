"""Text a customer controls, written to break a page: shared by the hostile-text tests."""

import pytest

PAYLOADS = {
    "script": "<script>window.__pwned = 'script'; alert('script')</script>",
    "img": "<img src=x onerror=\"window.__pwned='img'; alert('img')\">",
    "svg": "<svg/onload=alert('svg')><iframe srcdoc='<script>alert(1)</script>'>",
    "javascript": "javascript:alert('link') [pay](javascript:alert(1)) JaVaScRiPt:alert(2)",
    "url breakout": (
        "https://example.com/\"onmouseover=\"alert('url') and www.example.com/'onfocus='alert(2)' autofocus"
    ),
    "formatting": (
        "*<b onclick=alert(1)>bold</b>* _<i>x</i>_ ~<u>s</u>~ "
        "```<script>alert(3)</script>``` `<img src=x onerror=alert(4)>`"
    ),
    "entities": "&lt;script&gt;alert('entity')&lt;/script&gt; &amp;lt; &#60;img src=x onerror=alert(5)&#62; &quot;",
    "attribute": "\"><script>alert(6)</script><a href='javascript:alert(7)'>x</a><!--",
    "template": "{{ request.user }} {% csrf_token %} ${alert(8)} #{alert(9)} <%= 1 %>",
    "rtl": "\u202egpj.exe invoice \u202dok\u202c \u2067isolate\u2069",
    "zero width": "pay\u200bpal\u200d.com \ufeffsecure\u2060login",
    "long": ("A" * 99 + " ") * 650,  # 65,000 characters
}
SHORT = {key: value for key, value in PAYLOADS.items() if key != "long"}
NAME = "<img src=x onerror=alert('name')>\u202eAsha"
FILE_NAME = "<svg onload=alert('file')>\u202efdp.exe"
EMOJI = "<script>alert('emoji')</script>"

# Marks that appear in a page's HTML only if the text became markup (escaped, each starts "&lt;").
INJECTED = (
    "<script>window",
    "<script>alert",
    "<img src=x",
    "<svg/onload",
    "<svg onload",
    "<iframe",
    "<b onclick",
    "<a href='javascript",
)


@pytest.fixture
def tasks_recorded(monkeypatch):
    """Sends, read receipts and downloads are the worker's; these tests look only at storage and pages."""
    import integrations.tasks

    class Recorder:
        def delay(self, *args):
            pass

    for name in ("message_send_task", "message_mark_read_task", "media_download_task"):
        monkeypatch.setattr(integrations.tasks, name, Recorder(), raising=False)
