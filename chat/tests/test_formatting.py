import datetime

from django.utils import timezone

from chat.formatting import error_reason, whatsapp_html
from chat.models import Message
from chat.templatetags.chat_tags import bubble_time, contact_cards, list_time, location


def test_it_formats_bold_italic_strike_and_monospace_like_whatsapp():
    assert whatsapp_html("*a* _b_ ~c~ ```d```") == "<strong>a</strong> <em>b</em> <del>c</del> <code>d</code>"


def test_it_leaves_markers_inside_words_and_code_alone():
    assert whatsapp_html("snake_case_name 2*3*4") == "snake_case_name 2*3*4"
    assert whatsapp_html("```*not bold*```") == "<code>*not bold*</code>"


def test_it_keeps_underscores_in_links():
    html = whatsapp_html("see www.example.com/a_b_c.")
    assert html == (
        'see <a href="https://www.example.com/a_b_c" target="_blank" rel="noopener noreferrer">'
        "www.example.com/a_b_c</a>."
    )


def test_it_turns_newlines_into_line_breaks_and_escapes_everything_else():
    assert whatsapp_html("1 < 2 & 3\nnext") == "1 &lt; 2 &amp; 3<br>next"


def test_it_never_links_a_javascript_url():
    assert "<a" not in whatsapp_html("javascript:alert(1)")
    assert whatsapp_html('<a href="javascript:alert(1)">x</a>').startswith("&lt;a href")  # text, not a tag


def test_it_explains_error_codes_in_words():
    assert "send a template" in error_reason(Message(error_code=131047))
    assert error_reason(Message(error_code=42, error_title="Odd")) == "Odd"
    assert error_reason(Message(error_code=42)) == "WhatsApp refused it (error 42)."


def test_it_shows_sidebar_times_relative_to_today():
    now = timezone.make_aware(datetime.datetime(2026, 11, 26, 15, 0))
    assert list_time(now - datetime.timedelta(hours=2), now) == "13:00"
    assert list_time(now - datetime.timedelta(days=1), now) == "Yesterday"
    assert list_time(now - datetime.timedelta(days=3), now) == "Monday"
    assert list_time(now - datetime.timedelta(days=30), now) == "27/10/2026"


def test_it_shows_bubble_times_relative_to_today():
    now = timezone.make_aware(datetime.datetime(2026, 11, 26, 15, 0))
    assert bubble_time(now - datetime.timedelta(days=1), now) == "Yesterday 15:00"
    assert bubble_time(now + datetime.timedelta(hours=20), now) == "tomorrow 11:00"
    assert bubble_time(now - datetime.timedelta(days=400), now) == "22 Oct 2025 15:00"


def test_it_reads_a_location_from_either_shape_and_refuses_bad_coordinates():
    assert location(Message(data={"latitude": "1.5", "longitude": 2}))["latitude"] == 1.5
    assert location(Message(data={"location": {"latitude": 1, "longitude": 2, "name": "HQ"}}))["name"] == "HQ"
    assert location(Message(data={"latitude": 91, "longitude": 0})) is None
    assert location(Message(data={"latitude": "x", "longitude": 0})) is None


def test_it_keeps_only_the_strings_of_a_contact_card():
    cards = contact_cards(
        Message(data={"contacts": [{"name": {"first_name": "Ravi"}, "phones": [{"wa_id": "9199"}, "junk"]}, 7]})
    )
    assert cards == [{"name": "Ravi", "phones": ["9199"], "emails": [], "org": ""}]
