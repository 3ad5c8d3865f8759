"""The real assistant answers over REST, the way a clinic's website or app would talk to it."""
from tests.integration.rest import RestChat


def _chat(assistant, sender):
    return RestChat(f"http://localhost:{assistant.ports.rasa}", sender)


def test_hi_gets_a_greeting(assistant, sender):
    replies = _chat(assistant, sender).say("hi")
    assert replies, "no reply to 'hi'"
    assert replies[0]["recipient_id"] == sender
    assert "CareNav" in replies[0]["text"]


def test_help_lists_what_it_can_do_with_buttons(assistant, sender):
    replies = _chat(assistant, sender).say("what can you do?")
    assert any("referr" in r.get("text", "") for r in replies)
    buttons = [b for r in replies for b in r.get("buttons", [])]
    assert any(b["payload"] == "/request_human" for b in buttons)


def test_goodbye(assistant, sender):
    text = _chat(assistant, sender).text("bye for now")
    assert "Take care" in text
