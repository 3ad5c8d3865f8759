"""The care-team console in a real browser (Debian chromium, Playwright) against the running stack
(Rasa server, action server, web app): an admin adds a coordinator; a patient asks for a person over
REST; the coordinator signs in, sees the hand-off within seconds, claims and resolves it with the
keyboard; records the specialist's report and the patient's next "what happens after my visit?"
answer uses it; opens the patient's conversation (audited) and keeps it as a test story. A nurse
cannot add staff. Screenshots go to results/ (the README's "For the care team" uses one).

The test makes its own patient (not a demo one) in the shared store, so nothing else sees it."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.web.test_web_chat import CHROMIUM, FLAGS, ROOT

PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser(assistant):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def store(demo_db_url):
    from bot.store.db import Database

    db = Database(demo_db_url)
    yield db
    db.dispose()


def new_page(browser):
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    return page


def sign_in(page, base, email):
    page.goto(f"{base}/staff/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('At a glance')")


def test_a_coordinator_answers_a_hand_off_and_closes_a_referral_loop_in_the_browser(assistant, browser, store,
                                                                                     chat_as, sender, token_for):
    from bot.console.accounts import StaffAccounts
    from bot.store import models as m

    tag = uuid.uuid4().hex[:8]
    patient_id, referral_id = f"e2e-{tag}", f"e2e-{tag}-ref"
    admin, coordinator, nurse = (f"{who}-{tag}@clinic.example" for who in ("admin", "coord", "nurse"))
    today = dt.date.today()
    with store.session() as s:
        s.add(m.Patient(id=patient_id, given_name="Eve", family_name=f"Tester{tag}", birth_date=dt.date(1960, 5, 1),
                        preferred_language="en", sms_consent=False, source="fhir"))
        s.flush()
        s.add(m.Referral(id=referral_id, patient_id=patient_id, referring_provider_id="prov-okafor",
                         specialty="cardiology", reason_text="palpitations", priority="routine",
                         status="scheduled", sent_on=today - dt.timedelta(days=30),
                         scheduled_on=today - dt.timedelta(days=20), report_received=False))
    StaffAccounts(store).add(admin, PASSWORD, "admin")
    StaffAccounts(store).add(nurse, PASSWORD, "nurse")
    base = f"http://localhost:{assistant.ports.web}"

    # an admin adds a coordinator in the console
    page = new_page(browser)
    sign_in(page, base, admin)
    page.click("nav >> text=Team")
    page.fill("#new-email", coordinator)
    page.select_option("#new-role", "coordinator")
    page.fill("#new-password", PASSWORD)
    page.click("button:has-text('Add')")
    page.wait_for_selector("text=Staff account added")
    assert coordinator in page.locator("main table").inner_text()
    page.context.close()

    # a nurse sees the team but cannot add anyone
    page = new_page(browser)
    sign_in(page, base, nurse)
    page.goto(f"{base}/staff/team")
    assert page.locator("text=Only an admin adds staff").count() == 1 and page.locator("#new-email").count() == 0
    page.context.close()

    # the patient asks for a person over REST
    chat = chat_as(patient_id)
    assert "referral" in chat.text("why was I referred?").lower()
    asked = dt.datetime.now()
    assert "call" in chat.text("can I talk to a real person please").lower()

    # the coordinator sees it within seconds, claims and resolves it with the keyboard
    page = new_page(browser)
    sign_in(page, base, coordinator)
    page.click("nav >> text=Hand-offs")
    card = page.locator("li.card", has_text=f"Eve Tester{tag}")
    card.wait_for()
    seen_after = (dt.datetime.now() - asked).total_seconds()
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / "console-handoffs.png"), full_page=True)
    assert "asked about: ask referral reason" in card.inner_text() and "by the clinic's app (REST)" in card.inner_text()
    card.locator("button:has-text('Claim')").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=You are working on this hand-off")
    card = page.locator("li.card", has_text=f"Eve Tester{tag}")
    card.locator("select[name=outcome]").select_option("reached")
    card.locator("button:has-text('Resolve')").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=the patient is told")
    assert page.locator("li.card", has_text=f"Eve Tester{tag}").count() == 0
    assert seen_after < 30

    # the referral loop: record the specialist's report
    page.click("nav >> text=Referral loop")
    article = page.locator("article", has_text=f"Eve Tester{tag}")
    article.locator("summary:has-text('Record the report')").click()
    article.locator("textarea[name=summary]").fill("Your heart tracing over two days showed no worrying rhythm.")
    article.locator("textarea[name=next_steps]").fill("No new medicine. See Dr. Okafor in 3 weeks to talk it over.")
    article.locator("button:has-text('Record report')").click()
    page.wait_for_selector("text=Report recorded")
    assert page.locator("article", has_text=f"Eve Tester{tag}").count() == 0

    # the patient's next answer uses it
    after = chat.text("what happens after my visit with the cardiologist?")
    assert "no worrying rhythm" in after and "See Dr. Okafor in 3 weeks" in after

    # the patient's next visit to the web page (signed in by the clinic's website) shows what the care
    # team told them, once
    visit = new_page(browser)
    visit.goto(f"{base}/")
    visit.evaluate("t => { sessionStorage.setItem('carenav.token', JSON.stringify(t));"
                   " sessionStorage.setItem('carenav.who', JSON.stringify('Eve')); }", token_for(patient_id))
    visit.reload()
    visit.locator("#chat-log").get_by_text("See Dr. Okafor in 3 weeks").wait_for()
    told = visit.locator("#chat-log").inner_text()
    assert "A message from your care team" in told and "Thank you for talking with our care team" in told
    visit.context.close()

    # conversation review: the patient's conversation, audited, kept as a test story
    page.click("nav >> text=Conversations to review")
    page.goto(f"{base}/staff/patients/{patient_id}")
    page.locator("main table a").first.click()
    page.wait_for_selector("h1:has-text('Conversation')")
    assert "can I talk to a real person please" in page.locator("ol.turns").inner_text()
    page.click("button:has-text('Keep as test story')")
    page.wait_for_selector("text=Kept as a test story")
    kept = page.locator("main code").inner_text()
    story = ROOT / "var" / "kept-stories" / kept
    try:
        text = story.read_text()
        assert "request_human" in text and f"Tester{tag}" not in text
    finally:
        story.unlink(missing_ok=True)
    page.goto(f"{base}/staff/")
    page.screenshot(path=str(out / "console.png"), full_page=True)
    page.context.close()

    with store.session() as s:
        audit = s.execute(select(m.AuditEvent.action, m.AuditEvent.actor).where(
            m.AuditEvent.patient_id == patient_id, m.AuditEvent.channel == "staff")).all()
        notice = s.execute(select(m.PatientNotice).where(m.PatientNotice.patient_id == patient_id)).scalars().all()
    actions = {a for a, actor in audit if actor == coordinator}
    assert {"listed in the hand-off queue", "hand-off claim", "hand-off resolve", "listed in the referral loop",
            "specialist report recorded", "conversation viewed", "kept as test story"} <= actions
    assert {n.kind for n in notice} == {"callback_closed", "report_back"}
    assert all(n.channel == "web" and n.delivered_at is not None for n in notice)  # no texts: shown on the web
