"""The "Divergências" page in a real headless Chromium against a real api-server: log in
through Airflow's login form, open the page from the navigation, approve one divergence and
reject another, then check the database and what the page shows."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from devtools.sql_steps import run_session
from tests.helpers import add_sale, booked, divergences

DAY = date(2026, 11, 10)


def test_controller_approves_and_rejects_in_the_browser(api_server, browser, db, passwords, screenshots_dir):
    add_sale(db, "NF_APROVAR", valor_bonus="1.500,00", bonus_dpto="1200")
    add_sale(db, "NF_REJEITAR", valor_bonus="800.00", bonus_dpto="750.00")
    add_sale(db, "NF_PENDENTE", bonus_utilizado="PENDENTE VERIFICACAO")
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"]: d["id"] for d in divergences(db)}

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{api_server}/divergencias/")
    page.wait_for_url("**/auth/login**")
    page.locator("input[name=username]").fill("controladora")
    page.locator("input[name=password]").fill(passwords["controladora"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_server}/divergencias/")

    # the page is in Airflow's navigation and shows inside the UI
    page.goto(f"{api_server}/")
    page.get_by_role("link", name="Divergências").click()
    page.wait_for_url("**/plugin/divergencias")
    frame = page.frame_locator("iframe")
    queue = frame.locator("#tabela-divergencias tbody")
    expect(queue.locator("tr")).to_have_count(3)
    assert "Conectado como controladora" in frame.locator("#usuario").inner_text()

    frame.locator(f"tr[data-id='{ids['NF_APROVAR']}'] input.marcar").check()
    frame.locator("#motivo").fill("conferido com a nota fiscal")
    frame.locator("#aprovar").click()
    frame.locator("#mensagem", has_text="Aprovadas e aplicadas: 1").wait_for()
    # The page shows the message, then reloads the queue: tick the next box only in the new one.
    expect(queue.locator("tr")).to_have_count(2)

    frame.locator(f"tr[data-id='{ids['NF_REJEITAR']}'] input.marcar").check()
    frame.locator("#motivo").fill("lançamento da controladoria está correto")
    frame.locator("#rejeitar").click()
    frame.locator("#mensagem", has_text="Rejeitadas: 1").wait_for()

    rows = {d["idnfsexterno"]: d for d in divergences(db)}
    assert (rows["NF_APROVAR"]["status_processamento"], rows["NF_APROVAR"]["processado_por"]) == (
        "APPROVED",
        "controladora",
    )
    assert booked(db, "NF_APROVAR")[0] == "1500.00"
    assert (rows["NF_REJEITAR"]["status_processamento"], rows["NF_REJEITAR"]["motivo_rejeicao"]) == (
        "REJECTED",
        "lançamento da controladoria está correto",
    )
    assert booked(db, "NF_REJEITAR")[0] == "750.00"

    # the open queue keeps only the pending one; the full list shows the decisions
    expect(queue.locator("tr")).to_have_count(1)
    frame.locator("select[name=status_processamento]").select_option("")
    frame.get_by_role("button", name="Filtrar").click()
    frame.locator("#tabela-divergencias .status-APPROVED").wait_for()
    expect(frame.locator("#tabela-divergencias .status-REJECTED")).to_have_count(1)

    frame.locator(f"tr[data-id='{ids['NF_APROVAR']}'] button", has_text="Detalhes").click()
    history = frame.locator("#detalhe-historico tbody")
    history.locator("tr", has_text="APPROVED").wait_for()
    assert "controladora" in history.inner_text()
    frame.locator("#fechar-detalhe").click()

    frame.get_by_role("tab", name="Painel").click()
    frame.locator("#grafico svg rect").first.wait_for()
    frame.get_by_role("tab", name="Fila de revisão").click()
    page.screenshot(path=str(screenshots_dir / "divergencias.png"), full_page=True)
    assert (screenshots_dir / "divergencias.png").stat().st_size > 10_000


def test_page_refuses_a_user_without_access(api_server, browser, passwords):
    page = browser.new_page()
    page.goto(f"{api_server}/divergencias/")
    page.wait_for_url("**/auth/login**")
    page.locator("input[name=username]").fill("semacesso")
    page.locator("input[name=password]").fill(passwords["semacesso"])
    with page.expect_response(f"{api_server}/divergencias/") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 403
    # The 403 page is still being committed when its response arrives: wait for its text.
    expect(page.locator("body")).to_contain_text("Sem acesso")
