"""The clinic web chat page in Spanish, in a real browser (Debian chromium, driven by Playwright).

Switch the page to Español (by keyboard), find its own words in Spanish (headings, buttons, the
placeholder, the emergency banner first in Spanish, the demo sign-in, the connection status) and
`lang="es"`; a message goes out with the choice as metadata {"language": "es"}; the choice holds
across a reload and switches back. The page's CSP still holds (no violation in the console).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.web.test_web_chat import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser_page(assistant):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


def _user_messages(frames):
    """The user_uttered payloads among the socket.io frames the page sent."""
    out = []
    for frame in frames:
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        if text.startswith("42"):
            name, payload = json.loads(text[2:])[:2]
            if name == "user_uttered":
                out.append(payload)
    return out


def test_the_page_switches_to_spanish_and_sends_the_language_with_messages(assistant, browser_page):
    page = browser_page
    frames: list = []
    console: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"http://localhost:{assistant.ports.web}/")
    page.wait_for_selector("#connection:has-text('Connected')")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.inner_text("#language-button") == "Español"
    assert page.get_attribute("#language-button", "lang") == "es"

    # by keyboard: the skip link first, then (after the clinic's phone) the language button
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "language-button":
            break
    assert page.evaluate("document.activeElement.id") == "language-button"
    page.keyboard.press("Enter")

    page.wait_for_function("document.documentElement.lang === 'es'")
    assert page.inner_text("#chat-title") == "Pregúntele a CareNav"
    assert page.inner_text(".chat-note") == "Una guía de atención automática. No puede dar consejos médicos."
    assert page.inner_text("#send-button") == "Enviar"
    placeholder = page.get_attribute("#chat-input", "placeholder")
    assert placeholder == "Escriba su pregunta, por ejemplo: ¿por qué me refirieron?"
    assert page.text_content("label[for=chat-input]") == "Su mensaje"
    assert page.get_attribute("#chat-log", "aria-label") == "Conversación con CareNav"
    assert page.text_content(".skip") == "Ir al chat"
    assert "Portal del paciente" in page.title()
    # the emergency banner: Spanish first, English still there
    assert page.get_attribute("#emergency", "aria-label") == "Emergencia"
    banner = page.inner_text("#emergency")
    assert banner.startswith("En una emergencia, llame al 911.")
    assert "marque 988 y oprima 2 para español" in banner and "In an emergency, call 911." in banner
    assert page.evaluate("document.querySelector('#emergency').firstElementChild.lang") == "es"
    # the demo sign-in and the connection status
    assert page.inner_text("#demo-title") == "Inicio de sesión de demostración"
    assert page.inner_text("label[for=patient-select]") == "Paciente de demostración"
    assert page.inner_text("#signin-button") == "Iniciar sesión (demo)"
    assert page.inner_text("#signin-status") == "No ha iniciado sesión."
    assert page.inner_text("#connection") == "Conectado (sin iniciar sesión)."
    # the button now offers English, in English
    assert page.inner_text("#language-button") == "English"
    assert page.get_attribute("#language-button", "lang") == "en"
    assert page.evaluate("document.activeElement.id") == "language-button"  # focus stays put

    page.select_option("#patient-select", "demo-james")
    page.click("#signin-button")
    page.wait_for_selector("#signin-status:has-text('Sesión iniciada como James Carter')")
    page.wait_for_selector("#connection:has-text('Conectado, sesión iniciada como James Carter')")
    assert page.inner_text("#signout-button") == "Cerrar sesión"

    page.fill("#chat-input", "¿por qué me refirieron?")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 15
    while not _user_messages(frames) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    sent = _user_messages(frames)
    assert sent and sent[-1]["message"] == "¿por qué me refirieron?"
    assert sent[-1]["metadata"] == {"language": "es"}
    page.locator("#chat-log .msg.bot").first.wait_for()  # some answer comes
    assert "Usted dijo:" in page.text_content("#chat-log")  # the screen reader's labels too

    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "web-chat-spanish.png"), full_page=True)

    # the choice holds across a reload, and switches back
    page.reload()
    page.wait_for_selector("#connection:has-text('Conectado')")
    assert page.evaluate("document.documentElement.lang") == "es"
    assert page.inner_text("#chat-title") == "Pregúntele a CareNav"
    page.click("#language-button")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.inner_text("#chat-title") == "Ask CareNav"
    assert page.inner_text("#signin-status") == "Signed in as James Carter (demo)."
    assert page.inner_text("#emergency").startswith("In an emergency, call 911.")
    frames.clear()
    page.fill("#chat-input", "when is my next appointment")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 15
    while not _user_messages(frames) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert _user_messages(frames)[-1]["metadata"] == {"language": "en"}

    assert not [m for m in console if "Content Security Policy" in m]
    assert page.locator("script:not([src])").count() == 0 and page.locator("[style]").count() == 0


def test_the_address_can_ask_for_spanish(assistant, browser_page):
    page = browser_page
    page.goto(f"http://localhost:{assistant.ports.web}/?lang=es")
    page.wait_for_selector("#connection:has-text('Conectado')")
    assert page.evaluate("document.documentElement.lang") == "es"
    assert page.inner_text("#send-button") == "Enviar"
