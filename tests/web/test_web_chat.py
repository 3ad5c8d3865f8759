"""The clinic web chat page in a real browser (Debian chromium, driven by Playwright).

Open the page, sign in as a demo patient, ask why they were referred, see the answer, click a
button, reload, and find the conversation still there. A screenshot is kept in results/.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(assistant, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS,  # a fresh profile each time
                                    headless=True)
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


def test_sign_in_ask_click_and_reload_keeps_the_conversation(assistant, page):
    web = f"http://localhost:{assistant.ports.web}/"
    page.goto(web)
    page.wait_for_selector("#connection:has-text('Connected')")
    # the clearly marked demo sign-in, standing in for the clinic's login
    assert page.locator("#demo-title").inner_text() == "Demo sign-in"
    page.select_option("#patient-select", "demo-james")
    page.click("#signin-button")
    page.wait_for_selector("#signin-status:has-text('James Carter')")
    page.wait_for_selector("#connection:has-text('Connected')")

    page.fill("#chat-input", "why was i referred?")
    page.keyboard.press("Enter")
    answer = page.locator("#chat-log").get_by_text("chest discomfort when you are active")
    answer.wait_for()
    assert "Eastgate Heart and Vascular" in page.locator("#chat-log").inner_text()

    # a button from the answer is clickable and gets its own answer
    page.locator("#chat-log button", has_text="What should I ask them?").first.click()
    page.locator("#chat-log").get_by_text("For your cardiology visit").wait_for()

    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "web-chat.png"), full_page=True)

    page.reload()
    page.wait_for_selector("#connection:has-text('Connected')")
    log = page.locator("#chat-log").inner_text()
    assert "why was i referred?" in log and "chest discomfort when you are active" in log
    assert "For your cardiology visit" in log
    # and the conversation continues after the reload, still signed in
    page.fill("#chat-input", "when is my next appointment")
    page.keyboard.press("Enter")
    page.locator("#chat-log").get_by_text("follow-up visit with Dr. Grace Okafor").wait_for()


def test_keyboard_only_and_labelled(assistant, page):
    page.goto(f"http://localhost:{assistant.ports.web}/")
    page.wait_for_selector("#connection:has-text('Connected')")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.focus("#chat-input")
    page.keyboard.type("what can you do")
    page.keyboard.press("Enter")
    page.locator("#chat-log").get_by_text("Here is what I can help with").wait_for()
    assert page.get_attribute("#chat-log", "role") == "log"
    assert page.locator("label[for=chat-input]").count() == 1


def test_an_emergency_on_the_web_page_is_answered_first_in_the_patients_language(assistant, page):
    """Not signed in, in Spanish: the first answer is 911 in Spanish, then the offer of a person
    with its buttons; an English emergency in the same chat is answered in English."""
    page.goto(f"http://localhost:{assistant.ports.web}/")
    page.wait_for_selector("#connection:has-text('Connected')")
    page.fill("#chat-input", "mi papa no puede respirar y tiene los labios morados")
    page.keyboard.press("Enter")
    page.locator("#chat-log").get_by_text("Llame al 911 ahora").wait_for()
    page.locator("#chat-log button", has_text="No es emergencia, tengo una pregunta").wait_for()
    log = page.locator("#chat-log").inner_text()
    assert log.index("Llame al 911 ahora") < log.index("Cuando esté a salvo")
    page.fill("#chat-input", "my daughter swallowed a button battery")
    page.keyboard.press("Enter")
    page.locator("#chat-log").get_by_text("Call Poison Control now at 1-800-222-1222").wait_for()
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "web-chat-emergency.png"), full_page=True)
