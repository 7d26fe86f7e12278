"""The console in a real browser (headless Chromium) against the real services on the real broker: an advisor
signs in, sees a task appear live, takes it, reads its context and completes it with an outcome that reaches
`advisor-outcomes`; a customer sees a fraud alert arrive live, answers "No, freeze my card", and the card is
frozen."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.gen.proactivecare.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc, notify_pb2, notify_pb2_grpc
from services.platform.client import connect
from services.platform.topics import ADVISOR_OUTCOMES, ADVISOR_TASKS, TRANSACTIONS
from tests.console import console_server
from tests.integration.conftest import read_topic, wait_for
from tests.system import whole_system
from tests.unit.advisor.builders import task
from tests.unit.fraud.builders import card_payment, usual_history

# how long a live update may take to show: the services' consumer groups join the broker as the test starts, which
# took over a minute on this shared machine under load
LIVE_SECONDS = 180


@pytest.fixture
def console(settings, fraud_model_dir, monkeypatch) -> Iterator[tuple[dict, str]]:
    with whole_system(settings, fraud_model_dir) as system:
        for name, svc in system.items():  # where the advisor service reads a case's history from
            monkeypatch.setenv(f"{name.upper()}_TARGET", svc.target)
        with console_server(settings, lambda name: system[name].target) as url:
            yield system, url


def sign_in(browser, url: str, as_advisor: bool, subject: str) -> None:
    browser.get(f"{url}/login")
    field = browser.find_element(By.ID, "advisor-name" if as_advisor else "customer-id")
    field.clear()
    field.send_keys(subject)
    browser.find_element(By.ID, "login-advisor" if as_advisor else "login-customer").click()


def test_an_advisor_sees_a_task_arrive_takes_it_and_completes_it(console, browser, settings, produce, token,
                                                                 screenshots: Path) -> None:
    system, url = console
    wait = WebDriverWait(browser, LIVE_SECONDS)
    sign_in(browser, url, True, "ann")
    wait.until(ec.text_to_be_present_in_element((By.ID, "queue-financial-support-live"), "No open task"))

    # the customer has history for the case view to show: a fraud alert and its notification
    customer, now = "B2", time.time()
    for tx in usual_history(customer, now - 60):
        produce(TRANSACTIONS, customer, tx.SerializeToString())
    produce(TRANSACTIONS, customer, card_payment("B2-big", customer, 520_000, f"T-{customer}-1", now)
            .SerializeToString())
    with connect(system["notify"].target, token(customer)) as channel:
        notify = notify_pb2_grpc.NotificationServiceStub(channel)
        assert wait_for(lambda: notify.ListNotifications(notify_pb2.ListNotificationsRequest(customer_id=customer),
                                                         timeout=10).notifications, timeout=LIVE_SECONDS)

    raised = task("browser-1", value=180_000, sla_hours=48, created=datetime.now(UTC))
    raised.customer_id = customer
    raised.reasons.add(code="REPEATED_SHORTFALL", text="Balance went below zero twice in 90 days")
    produce(ADVISOR_TASKS, raised.customer_id, raised.SerializeToString())
    row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-task="browser-1"]')))
    assert "£1,800.00" in row.text and "left" in row.text  # arrived live, with its SLA countdown
    browser.save_screenshot(str(screenshots / "advisor-queues.png"))

    browser.find_element(By.ID, "take-financial-support").click()
    wait.until(ec.presence_of_element_located((By.ID, "complete")))
    assert browser.current_url.endswith("/advisor/tasks/browser-1")
    why = browser.find_element(By.ID, "why").find_element(By.XPATH, "..").text
    assert "REPEATED_SHORTFALL" in why and "Balance went below zero twice in 90 days" in why
    assert "Yours until" in browser.find_element(By.ID, "lease").text
    history = browser.find_element(By.ID, "history").find_element(By.XPATH, "..").text
    assert "€5,200.00" in history and "no answer yet" in history and "Was this card payment you?" in history
    Select(browser.find_element(By.ID, "outcome")).select_by_value("OFFER_ACCEPTED")
    browser.find_element(By.ID, "note").send_keys("Agreed a budgeting plan")
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(screenshots / "advisor-case.png"))
    browser.find_element(By.ID, "complete").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), "Task completed: OFFER_ACCEPTED."))

    (record,) = read_topic(settings, ADVISOR_OUTCOMES, expect=1)
    outcome = events_pb2.AdvisorOutcome.FromString(record.value)
    assert (outcome.task_id, outcome.outcome, outcome.advisor) == ("browser-1", "OFFER_ACCEPTED", "ann")


def test_a_customer_sees_a_fraud_alert_arrive_and_freezes_the_card(console, browser, produce,
                                                                    screenshots: Path) -> None:
    system, url = console
    wait = WebDriverWait(browser, LIVE_SECONDS)
    customer, now = "B1", time.time()
    sign_in(browser, url, False, customer)
    wait.until(ec.presence_of_element_located((By.ID, "notifications")))
    assert "No messages yet" in browser.page_source

    for tx in usual_history(customer, now - 60):
        produce(TRANSACTIONS, customer, tx.SerializeToString())
    # over the policy's always-check amount: alerted by the rule whatever the small model scores
    produce(TRANSACTIONS, customer, card_payment("B1-big", customer, 520_000, f"T-{customer}-1", now)
            .SerializeToString())
    freeze = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#notifications button.answer-fraud")))
    assert freeze.text == "No, freeze my card"
    assert browser.find_element(By.CSS_SELECTOR, "#notifications button.answer-genuine").text == "Yes, it was me"
    browser.save_screenshot(str(screenshots / "customer-inbox.png"))
    alert_id = freeze.find_element(By.XPATH, "./..").get_attribute("action").split("/")[-2]
    freeze.click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#notifications p.answer"), "card is frozen"))

    token = browser.get_cookie("pc_console_token")["value"]
    with connect(system["fraud"].target, token) as channel:
        alert = fraud_pb2_grpc.FraudServiceStub(channel).GetAlert(fraud_pb2.GetAlertRequest(alert_id=alert_id),
                                                                  timeout=10).alert
    assert alert.status == fraud_pb2.ALERT_STATUS_CONFIRMED_FRAUD and alert.card_frozen
