"""The "Divergências" page in a real headless Chromium against a real api-server: log in
through Airflow's login form, open the page from the navigation, approve one divergence and
reject another, then check the database and what the page shows; money typed and shown the
pt-BR way without ever passing through a JS number."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Page, expect

from devtools.browser import log_in
from devtools.sql_steps import run_session
from tests.helpers import add_sale, booked, divergences

DAY = date(2026, 11, 10)
NBSP = "\u00a0"  # Intl's pt-BR currency text puts a no-break space after "R$"


def test_controller_approves_and_rejects_in_the_browser(api_server, browser, db, passwords, screenshots_dir):
    add_sale(db, "NF_APROVAR", valor_bonus="1.500,00", bonus_dpto="1200")
    add_sale(db, "NF_REJEITAR", valor_bonus="800.00", bonus_dpto="750.00")
    add_sale(db, "NF_PENDENTE", bonus_utilizado="PENDENTE VERIFICACAO")
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"]: d["id"] for d in divergences(db)}

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    log_in(page, api_server, "controladora", passwords["controladora"])

    # the page is in Airflow's navigation and shows inside the UI
    page.goto(f"{api_server}/")
    # its icon is a static file too, loaded by the UI with the login cookie
    icon = page.locator("img[src='/divergencias/static/icone.svg']").first
    icon.wait_for(state="attached")
    expect(icon).to_have_js_property("complete", True)
    assert icon.evaluate("img => img.naturalWidth") > 0
    page.get_by_role("link", name="Divergências").click()
    # Airflow then copies the frame's path into its own (/plugin/divergencias/divergencias/):
    # matched exactly, the wait raced that change and timed out now and then.
    page.wait_for_url("**/plugin/divergencias**")
    frame = page.frame_locator("iframe")
    queue = frame.locator("#tabela-divergencias tbody")
    expect(queue.locator("tr")).to_have_count(3)
    assert "Conectado como controladora" in frame.locator("#usuario").inner_text()

    frame.locator(f"tr[data-id='{ids['NF_APROVAR']}'] input.marcar").check()
    frame.locator("#motivo").fill("conferido com a nota fiscal")
    # a value that is not pt-BR money is refused on the page, in pt-BR, and nothing is sent
    frame.locator("#valor").fill("1.500.00")
    frame.locator("#aprovar").click()
    frame.locator("#mensagem.erro", has_text="Valor a aplicar: valor inválido").wait_for()
    assert divergences(db, "NF_APROVAR")[0]["status_processamento"] == "DETECTED"
    # typed as a controller writes it: currency sign, thousands dot, decimal comma
    frame.locator("#valor").fill("R$ 1.500,00")
    frame.locator("#aprovar").click()
    frame.locator("#mensagem", has_text="Aprovadas e aplicadas: 1").wait_for()
    # The page shows the message, then reloads the queue: tick the next box only in the new one.
    expect(queue.locator("tr")).to_have_count(2)

    frame.locator(f"tr[data-id='{ids['NF_REJEITAR']}'] input.marcar").check()
    frame.locator("#motivo").fill("lançamento da controladoria está correto")
    # a filter typed wrong meanwhile does not make a recorded decision look failed
    frame.locator("input[name=diferenca_minima]").fill("abc")
    frame.locator("#rejeitar").click()
    frame.locator("#mensagem", has_text="Rejeitadas: 1").wait_for()
    expect(frame.locator("#mensagem")).to_contain_text("A lista não foi recarregada: Diferença mínima")
    expect(frame.locator("#mensagem")).not_to_have_class("erro")
    frame.locator("input[name=diferenca_minima]").fill("")
    frame.get_by_role("button", name="Filtrar").click()

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
    history.locator("tr", has_text="Aprovada").wait_for()
    assert "controladora" in history.inner_text()
    assert f"valor aplicado: R${NBSP}1.500,00" in history.inner_text()  # decimal text from the API
    frame.locator("#fechar-detalhe").click()

    frame.get_by_role("tab", name="Painel").click()
    frame.locator("#grafico svg rect").first.wait_for()
    frame.get_by_role("tab", name="Fila de revisão").click()
    page.screenshot(path=str(screenshots_dir / "divergencias.png"), full_page=True)
    assert (screenshots_dir / "divergencias.png").stat().st_size > 10_000

    # the minimum difference filter reads pt-BR money too: only NF_APROVAR differs by R$ 300
    frame.locator("input[name=diferenca_minima]").fill("R$ 300,00")
    frame.get_by_role("button", name="Filtrar").click()
    expect(queue.locator("tr")).to_have_count(1)
    expect(queue.locator(f"tr[data-id='{ids['NF_APROVAR']}'] td").nth(7)).to_have_text(f"R${NBSP}300,00")


# Decimal text as the API sends it -> what the page shows. Values past a double's 15-16
# significant digits show whether the page formats the text or a JS number.
SHOWN = {
    "1234.50": "R$ 1.234,50",
    "0.00": "R$ 0,00",
    "0.1": "R$ 0,10",
    "-10.50": "-R$ 10,50",
    "1000000.00": "R$ 1.000.000,00",
    "123456789012345678.91": "R$ 123.456.789.012.345.678,91",
    "0.125": "R$ 0,125",
}
# What a controller types -> the decimal text sent to the API.
READ = {
    "1.234,56": "1234.56",
    "R$ 1.234,56": "1234.56",
    f"R${NBSP}1.234,56": "1234.56",
    "1234,5": "1234.5",
    "  300 ": "300",
    "0,99": "0.99",
    "123.456.789,00": "123456789.00",
    "98765432109876543,21": "98765432109876543.21",
}
# "1.234": thousands for a controller, 1.234 for the money rules reading the source.
REFUSED = ["1.234.56", "12.34", "1234.56", "1,234.56", "1.23,45", "1,234", "10,5,0", "-10,00", "abc", "R$", "1.234"]


def test_page_shows_and_reads_money_as_text(api_server, browser, passwords):
    """brl() and parseMoney() of divergencias.js in the page as the browser runs it."""
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    page.locator("#usuario", has_text="Conectado como auditor").wait_for()

    shown = page.evaluate("(values) => values.map(brl)", list(SHOWN))
    assert shown == [text.replace(" ", NBSP) for text in SHOWN.values()]
    assert page.evaluate("brl(null)") == "—"
    # ordinary amounts look exactly as they did with Intl.NumberFormat
    ordinary = ["0.00", "0.01", "1.00", "12.30", "999.99", "1000.00", "1234.56", "-1234.56", "9999999999999.99"]
    assert (
        page.evaluate(
            """(values) => values.filter((v) => brl(v) !== new Intl.NumberFormat("pt-BR",
               { style: "currency", currency: "BRL" }).format(Number(v)))""",
            ordinary,
        )
        == []
    )

    assert page.evaluate("(values) => values.map((v) => parseMoney(v, 'Valor'))", list(READ)) == list(READ.values())
    assert page.evaluate("[parseMoney('', 'Valor'), parseMoney('   ', 'Valor')]") == [None, None]
    errors = page.evaluate(
        """(values) => values.map((v) => { try { return 'aceito: ' + parseMoney(v, 'Valor a aplicar'); }
                                           catch (error) { return error.message; } })""",
        REFUSED,
    )
    for typed, error in zip(REFUSED, errors, strict=True):
        assert error.startswith("Valor a aplicar: valor inválido") and "1.234,56" in error, (typed, error)


def test_docs_and_static_files_open_for_the_logged_in_browser_only(api_server, browser, passwords):
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    # the page's own CSS and script loaded with the login cookie
    assert page.evaluate("typeof parseMoney") == "function"
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "14px"  # divergencias.css
    assert page.request.get(api_server + "/divergencias/static/icone.svg").status == 200
    # the docs link the schema under the mount prefix; the browser fetches it with the
    # cookie only
    docs = page.request.get(api_server + "/divergencias/api/docs")
    assert docs.status == 200 and 'href="/divergencias/api/openapi.json"' in docs.text()
    schema = page.evaluate("fetch('/divergencias/api/openapi.json').then(async (r) => [r.status, await r.json()])")
    assert schema[0] == 200 and "/api/v1/divergencias" in schema[1]["paths"]

    stranger = browser.new_context()  # no cookie
    try:
        for path in (
            "/divergencias/api/docs",
            "/divergencias/api/openapi.json",
            "/divergencias/static/divergencias.js",
        ):
            assert stranger.request.get(api_server + path).status == 401, path
    finally:
        stranger.close()


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


def test_what_a_controller_reads_after_an_error(api_server, browser, db, passwords):
    """Each failure in pt-BR, saying what happened: no connection, no permission, and an
    expired session sends to the login."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    (one,) = [d["id"] for d in divergences(db)]
    context = browser.new_context()
    page = context.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    page.locator(f"tr[data-id='{one}']").wait_for()
    message = page.locator("#mensagem.erro")

    # a read-only user whose buttons were enabled (an older tab, a role changed since): 403
    page.evaluate("for (const b of document.querySelectorAll('button')) b.disabled = false")
    page.locator(f"tr[data-id='{one}'] input.marcar").check()
    page.locator("#aprovar").click()
    expect(message).to_contain_text("Sem permissão")
    assert "Forbidden" not in message.inner_text()
    assert divergences(db, "NF1")[0]["status_processamento"] == "DETECTED"

    # the server cannot be reached
    page.route("**/divergencias/api/v1/**", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Filtrar").click()
    expect(message).to_contain_text("Sem conexão")
    assert "Failed to fetch" not in message.inner_text()
    page.unroute("**/divergencias/api/v1/**")

    # a proxy in front of Airflow answers with its own page, no detail of ours
    page.route(
        "**/divergencias/api/v1/divergencias?*",
        lambda route: route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>"),
    )
    page.get_by_role("button", name="Filtrar").click()
    expect(message).to_contain_text("O servidor respondeu com erro 502, sem explicação: tente de novo")
    page.unroute("**/divergencias/api/v1/divergencias?*")

    # the session expired: to Airflow's login, back to the page afterwards
    context.clear_cookies()
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url("**/auth/login**")
    context.close()


def test_deciding_the_last_page_shows_the_page_before(api_server, browser, db, passwords):
    """Deciding everything on the last page empties it: the page shows the new last page,
    not an empty table counted "51–50 de 50"."""
    for n in range(51):
        add_sale(db, f"NF{n:02d}", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    expect(page.locator("#contagem")).to_have_text("1–50 de 51")
    page.locator("#proxima").click()
    expect(page.locator("#contagem")).to_have_text("51–51 de 51")
    page.locator("#tabela-divergencias tbody input.marcar").check()
    page.locator("#motivo").fill("lançamento correto")
    page.locator("#rejeitar").click()
    expect(page.locator("#mensagem")).to_contain_text("Rejeitadas: 1")
    expect(page.locator("#contagem")).to_have_text("1–50 de 50")
    expect(page.locator("#tabela-divergencias tbody tr")).to_have_count(50)
    assert page.locator("#anterior").is_disabled() and page.locator("#proxima").is_disabled()


def test_the_queue_shows_the_current_amount_as_pt_br_money(api_server, browser, db, passwords):
    """The list's "Valor atual" is money like its neighbours ("R$ 17.000,00"), not the field's
    text ("17000.00", which a pt-BR reader takes for a malformed seventeen million); text the
    money rules cannot read is shown as found, an empty field as "(vazio)"."""
    add_sale(db, "NF_TEXTO", valor_bonus="18000.00", bonus_dpto="17000.00")
    add_sale(db, "NF_ILEGIVEL", bonus_dpto="abc")
    add_sale(db, "NF_VAZIO", valor_bonus="100.00", bonus_dpto=None)
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"]: d["id"] for d in divergences(db)}
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])

    def current(sale: str):
        return page.locator(f"tr[data-id='{ids[sale]}'] td").nth(5)

    expect(current("NF_TEXTO")).to_have_text(f"R${NBSP}17.000,00")
    expect(current("NF_ILEGIVEL")).to_have_text("abc")
    expect(current("NF_VAZIO")).to_have_text("(vazio)")


def test_details_work_from_the_keyboard(api_server, browser, db, passwords):
    """Detalhes opens a panel over the list: the keyboard lands in it, Escape closes it and
    goes back to the row's button (the panel came after the whole table in the tab order)."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    (one,) = [d["id"] for d in divergences(db)]
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    button = page.get_by_role("button", name=f"Detalhes da divergência {one}")
    button.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name=f"Divergência {one}")
    expect(panel).to_be_visible()
    assert page.evaluate("document.getElementById('detalhe').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(button).to_be_focused()


def test_details_show_the_reference_text_and_why_the_run_left_it(api_server, browser, db, passwords):
    """A suggestion kept in cents (R$ 1.234,57) for a reference of 1234.567 is not applied:
    the panel shows the reference as the source holds it and the run's reason."""
    add_sale(db, "NF1", valor_bonus="1234.567", bonus_dpto="1000.00")
    run_session(db, DAY, DAY)
    (one,) = [d["id"] for d in divergences(db)]
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    page.get_by_role("button", name=f"Detalhes da divergência {one}").click()
    panel = page.get_by_role("dialog", name=f"Divergência {one}")
    expect(panel.locator("dt:has-text('Valor de referência (texto)') + dd")).to_have_text("1234.567")
    expect(panel.locator("dt:has-text('Valor sugerido') + dd")).to_have_text(f"R${NBSP}1.234,57")
    expect(panel.locator("dt:has-text('Não aplicada automaticamente') + dd")).to_have_text(
        "valor de referência com mais de duas casas decimais: revisar"
    )


def test_a_rule_switched_off_reads_as_such_in_the_filter_and_the_details(api_server, browser, db, passwords):
    """A divergence of a rule with ativo = false waits for a person, unjudged: the rule filter
    marks the rule inactive and the panel says why no run evaluates the divergence."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    db.execute("UPDATE audit.regras_divergencia SET ativo = false WHERE codigo = 'TRADE_MARKETING_BONUS'")
    run_session(db, DAY, DAY)
    (one,) = [d["id"] for d in divergences(db)]
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    options = page.locator("#filtro-regra option")
    expect(options.filter(has_text="Bônus contabilizado diferente do registrado")).to_have_text(
        "Bônus contabilizado diferente do registrado (inativa)"
    )
    expect(options.filter(has_text="Valor ilegível")).to_have_text("Valor ilegível")
    page.get_by_role("button", name=f"Detalhes da divergência {one}").click()
    panel = page.get_by_role("dialog", name=f"Divergência {one}")
    expect(panel.locator("dt:has-text('Não avaliada pelas execuções') + dd")).to_contain_text(
        "inativa em audit.regras_divergencia"
    )
    expect(panel.locator("dt:text-is('Regra') + dd")).to_contain_text("(regra inativa)")


def test_a_failed_download_keeps_the_page_and_says_why(api_server, browser, db, passwords):
    """Baixar CSV / Excel: a file downloads and the page stays; an error answer used to
    replace the page with the API's bare JSON ({"detail":"Not authenticated"})."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    expect(page.locator("#contagem")).to_have_text("1–1 de 1")

    with page.expect_download() as download:
        page.get_by_role("link", name="Baixar CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert "NF1" in open(download.value.path(), encoding="utf-8-sig").read()
    assert page.url == f"{api_server}/divergencias/"
    page.wait_for_timeout(1000)  # a frame that loaded would have shown an error by now
    expect(page.locator("#mensagem")).to_be_hidden()

    # the database is down (the API's 503, simulated here for the export only)
    page.route(
        "**/relatorios/divergencias/export**",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body='{"detail":"Banco financial_db indisponível."}'
        ),
    )
    page.get_by_role("link", name="Baixar Excel").click()
    expect(page.locator("#mensagem.erro")).to_contain_text("Banco financial_db indisponível.")
    assert page.url == f"{api_server}/divergencias/"
    page.unroute("**/relatorios/divergencias/export**")

    # the session expired: to the login, as for any other action
    context.clear_cookies()
    page.get_by_role("link", name="Baixar CSV").click()
    page.wait_for_url("**/auth/login**")
    context.close()


def test_statuses_and_run_types_read_in_portuguese(api_server, browser, db, passwords):
    """The page's own words are pt-BR, statuses included: the list, the runs and the detail
    showed the database's codes (DETECTED, COMPLETED, MANUAL_RUN); the code stays in a tooltip."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    (one,) = [d["id"] for d in divergences(db)]
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    badge = page.locator(f"tr[data-id='{one}'] .status")
    expect(badge).to_have_text("Aberta")
    assert badge.get_attribute("title") == "DETECTED"
    page.get_by_role("button", name=f"Detalhes da divergência {one}").click()
    expect(page.locator("#detalhe-historico tbody")).to_contain_text("Aberta")
    expect(page.locator("#detalhe-campos")).to_contain_text("Aberta")
    page.get_by_role("tab", name="Execuções").click()
    run = page.locator("#tabela-sessoes tbody tr").first
    expect(run.locator(".status")).to_have_text("Parcial")  # devtools runs stop before the report
    expect(run.locator("td").nth(1)).to_have_text("Execução manual")


def test_an_expired_session_inside_airflows_frame_leads_to_the_login(api_server, browser, db, passwords):
    """In Airflow's navigation the page runs in a frame sandboxed without allow-top-navigation:
    sending the whole window to the login failed there, and the controller read the browser's
    "Failed to set the 'href' property on 'Location'…". The login now opens in the frame and
    comes back to the page."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    context = browser.new_context()
    page = context.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    page.goto(f"{api_server}/plugin/divergencias")
    frame = page.frame_locator("iframe")
    expect(frame.locator("#tabela-divergencias tbody tr")).to_have_count(1)
    context.clear_cookies()
    frame.get_by_role("button", name="Filtrar").click()
    frame.locator("input[name=username]").fill("auditor")
    frame.locator("input[name=password]").fill(passwords["auditor"])
    frame.get_by_role("button", name="Sign in").click()
    expect(frame.locator("#tabela-divergencias tbody tr")).to_have_count(1)
    assert "Conectado como auditor" in frame.locator("#usuario").inner_text()
    context.close()


def test_corrections_are_undone_from_airflows_frame(api_server, browser, db, passwords):
    """Desfazer correções asked its reason with window.prompt, which Airflow's frame (sandboxed
    without allow-modals) ignores: the button did nothing. The reason is asked on the page."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    session = run_session(db, DAY, DAY, modo="auto")["sessao_id"]
    assert booked(db, "NF1")[0] == "1000.00"
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    page.goto(f"{api_server}/plugin/divergencias")
    frame = page.frame_locator("iframe")
    frame.get_by_role("tab", name="Execuções").click()
    frame.locator(f"button[data-sessao='{session}']").click()
    frame.get_by_label("Motivo para desfazer").fill("x")
    frame.get_by_role("button", name="Confirmar").click()
    expect(frame.locator("#mensagem.erro")).to_contain_text("motivo")
    frame.get_by_label("Motivo para desfazer").fill("aplicado por engano")
    frame.get_by_role("button", name="Confirmar").click()
    expect(frame.locator("#mensagem")).to_contain_text("Rollback disparado")
    expect(frame.locator("#mensagem")).to_contain_text("divergencias_rollback")


def test_a_double_click_on_aprovar_sends_one_decision(api_server, browser, db, passwords):
    """The buttons stayed enabled while a decision was on its way: a double click sent it
    twice and the second answer, a 409 ("está APPROVED"), replaced the success message, as if
    the approval had failed."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"]: d["id"] for d in divergences(db)}
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    page.locator(f"tr[data-id='{ids['NF1']}'] input.marcar").check()
    page.locator("#aprovar").dblclick()
    expect(page.locator("#mensagem")).to_contain_text("Aprovadas e aplicadas: 1")
    expect(page.locator("#tabela-divergencias tbody tr")).to_have_count(1)
    page.wait_for_timeout(1000)  # a second answer would have arrived by now
    expect(page.locator("#mensagem")).not_to_have_class("mensagem erro")
    expect(page.locator("#aprovar")).to_be_enabled()
    approvals = db.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0]
    assert approvals == 1


def test_a_double_click_on_processar_queues_one_run(api_server, browser, passwords):
    """Processar stayed enabled while its request was on its way: a double click queued two
    runs of divergencias_diarias for the same period."""
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    runs_url = f"{api_server}/api/v2/dags/divergencias_diarias/dagRuns?limit=100"
    before = page.request.get(runs_url).json()["total_entries"]
    page.get_by_role("tab", name="Execuções").click()
    form = page.locator("#processar")
    form.locator("input[name=data_inicio]").fill("2026-11-01")
    form.locator("input[name=data_fim]").fill("2026-11-02")
    form.locator("select[name=modo]").select_option("manual")
    form.get_by_role("button", name="Processar").dblclick()
    expect(page.locator("#mensagem")).to_contain_text("Execução disparada")
    page.wait_for_timeout(1500)  # a second request would have been answered by now
    assert page.request.get(runs_url).json()["total_entries"] == before + 1
    expect(form.get_by_role("button", name="Processar")).to_be_enabled()


def test_counts_and_confidence_read_the_pt_br_way(api_server, browser, db, passwords):
    """Counts group thousands with a dot (1.574) and decimals take a comma (0,95), like the
    money beside them: the page showed 1574 and 0.95."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    session = run_session(db, DAY, DAY, modo="manual")["sessao_id"]
    db.execute("UPDATE audit.sessoes_processamento SET total_registros_analisados = 1574 WHERE id = %s", (session,))
    (one,) = [d["id"] for d in divergences(db)]
    page = browser.new_page()
    log_in(page, api_server, "auditor", passwords["auditor"])
    page.get_by_role("button", name=f"Detalhes da divergência {one}").click()
    expect(page.locator("#detalhe-campos")).to_contain_text("0,95")
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Execuções").click()
    expect(page.locator("#tabela-sessoes tbody tr").first.locator("td").nth(6)).to_have_text("1.574")


def test_a_decision_on_rows_a_run_refreshed_after_the_page_loaded_is_refused(api_server, browser, db, passwords):
    """The page showed "4000.00" and R$ 5.000,00; a run then refreshed the divergence to the
    booking "4800.00" and the reference 6000.00. Aprovar (and Rejeitar) on the rows as shown
    gets the API's 409, naming the current values, and writes nothing; after reloading the
    list the same click applies."""
    add_sale(db, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="900.00")
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"]: d["id"] for d in divergences(db)}
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    page.locator(f"tr[data-id='{ids['NF1']}']").wait_for()

    for nf, reference, booking in (("NF1", "6000.00", "4800.00"), ("NF2", "1100.00", "950.00")):
        db.execute("UPDATE byd.incentivos SET valor_bonus = %s WHERE idnfsexterno = %s", (reference, nf))
        db.execute("UPDATE byd.controladoria SET bonus_dpto = %s WHERE idnfsexterno = %s", (booking, nf))
    run_session(db, DAY, DAY, modo="manual")
    message = page.locator("#mensagem.erro")

    page.locator(f"tr[data-id='{ids['NF1']}'] input.marcar").check()
    page.locator("#aprovar").click()
    expect(message).to_contain_text(f"Divergência {ids['NF1']}: seus valores mudaram")
    expect(message).to_contain_text(f'"4800.00", valor sugerido R${NBSP}6.000,00')
    page.locator(f"tr[data-id='{ids['NF1']}'] input.marcar").uncheck()
    page.locator(f"tr[data-id='{ids['NF2']}'] input.marcar").check()
    page.locator("#motivo").fill("lançamento correto")
    page.locator("#rejeitar").click()
    expect(message).to_contain_text(f"Divergência {ids['NF2']}: seus valores mudaram")
    assert [d["status_processamento"] for d in divergences(db)] == ["DETECTED", "DETECTED"]
    assert (booked(db, "NF1")[0], booked(db, "NF2")[0]) == ("4800.00", "950.00")

    page.get_by_role("button", name="Filtrar").click()
    expect(page.locator(f"tr[data-id='{ids['NF1']}']")).to_contain_text(f"R${NBSP}4.800,00")
    page.locator(f"tr[data-id='{ids['NF1']}'] input.marcar").check()
    page.locator("#aprovar").click()
    expect(page.locator("#mensagem")).to_contain_text("Aprovadas e aplicadas: 1")
    assert booked(db, "NF1")[0] == "6000.00"


# Markup a person could type in another system or in the page: shown as text, it runs nothing.
MARKUP = '"><img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


def test_text_from_the_source_and_from_controllers_is_shown_as_text(api_server, browser, db, passwords):
    """Nota fiscal, booked text, revenda and chassi come from other systems, a comment or a
    reason from a controller: in the list, the details, the history, the approvals and an
    error message they show as typed, and no element or script of theirs reaches the page."""
    add_sale(db, f"NF_DUPLA{MARKUP}", valor_bonus="60000.00", bonus_dpto="0", revenda=MARKUP)
    add_sale(db, f"NF_TEXTO{MARKUP}", valor_bonus="100.00", bonus_dpto=f"1{MARKUP}", revenda=MARKUP)
    add_sale(db, f"NF_REJEITAR{MARKUP}", valor_bonus="800.00", bonus_dpto="750.00")
    db.execute("UPDATE byd.vendas SET chassi = %s", (MARKUP,))
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"].removesuffix(MARKUP): d["id"] for d in divergences(db)}

    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    queue = page.locator("#tabela-divergencias tbody")
    expect(queue.locator("tr")).to_have_count(3)
    for kind, nf in (("aprovar", "NF_DUPLA"), ("rejeitar", "NF_REJEITAR")):
        page.locator(f"tr[data-id='{ids[nf]}'] input.marcar").check()
        page.locator("#motivo").fill(f"conferido {MARKUP}")
        page.locator(f"#{kind}").click()
        page.locator(
            "#mensagem", has_text="aguardando segunda aprovação" if kind == "aprovar" else "Rejeitadas: 1"
        ).wait_for()
    # an error that repeats what was typed
    page.locator("input[name=diferenca_minima]").fill(MARKUP)
    page.get_by_role("button", name="Filtrar").click()
    expect(page.locator("#mensagem.erro")).to_contain_text(f'valor inválido "{MARKUP}"')
    page.locator("input[name=diferenca_minima]").fill("")
    page.locator("select[name=status_processamento]").select_option("")
    page.get_by_role("button", name="Filtrar").click()
    expect(queue.locator("tr")).to_have_count(3)

    expect(queue.locator(f"tr[data-id='{ids['NF_TEXTO']}'] td").nth(2)).to_have_text(f"NF_TEXTO{MARKUP}")
    expect(queue.locator(f"tr[data-id='{ids['NF_TEXTO']}'] td").nth(5)).to_have_text(f"1{MARKUP}")
    panel = page.locator("#detalhe")
    page.locator(f"tr[data-id='{ids['NF_DUPLA']}'] button", has_text="Detalhes").click()
    expect(page.locator("#detalhe-aprovacoes tbody td").nth(3)).to_have_text(f"conferido {MARKUP}")
    page.locator("#fechar-detalhe").click()
    page.locator(f"tr[data-id='{ids['NF_REJEITAR']}'] button", has_text="Detalhes").click()
    expect(panel.locator("dd").nth(14)).to_have_text(f"conferido {MARKUP}")  # Motivo da rejeição
    expect(page.locator("#detalhe-historico tbody")).to_contain_text(f"motivo da rejeição: conferido {MARKUP}")
    page.locator("#fechar-detalhe").click()
    page.get_by_role("tab", name="Execuções").click()
    page.locator("#tabela-sessoes tbody tr").first.wait_for()

    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("[...document.scripts].map((s) => s.getAttribute('src'))") == [
        "/divergencias/static/divergencias.js"
    ]


@contextmanager
def another_origin() -> Iterator[Callable[[Page, str], None]]:
    """A page server on another port of the same host: another origin but the same site, so
    the browser still sends Airflow's SameSite=Lax cookie with what such a page sends. Yields
    a function that opens a page of that origin with the given HTML."""
    pages: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(pages[-1])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def open_page(page: Page, html: str) -> None:
        pages.append(f"<!doctype html><meta charset=utf-8>{html}".encode())
        page.goto(f"http://127.0.0.1:{server.server_port}/pagina/{len(pages)}")

    try:
        yield open_page
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_page_of_another_origin_cannot_decide_for_a_logged_in_controller(api_server, browser, db, passwords):
    """What a page elsewhere can make the browser send with the controller's cookie (a form as
    text/plain or urlencoded, fetch no-cors with a text or untyped body, a DELETE, JSON with
    CORS) approves, rejects, processes and rolls back nothing."""
    add_sale(db, "NF_CORRIGIDA", valor_bonus="1000.00", bonus_dpto="900.00")
    session = run_session(db, DAY, DAY, modo="auto")["sessao_id"]
    add_sale(db, "NF_ABERTA", valor_bonus="800.00", bonus_dpto="750.00")
    run_session(db, DAY, DAY, modo="manual")
    (open_one,) = [d["id"] for d in divergences(db, "NF_ABERTA")]
    before = [(d["id"], d["status_processamento"]) for d in divergences(db)]

    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    api = f"{api_server}/divergencias/api/v1"

    def dag_runs() -> dict[str, int]:
        """Runs of both DAGs so far: the api-server is shared with the file's other tests."""
        counts = {}
        for dag_id in ("divergencias_diarias", "divergencias_rollback"):
            runs = page.request.get(f"{api_server}/api/v2/dags/{dag_id}/dagRuns")
            assert runs.status == 200, dag_id
            counts[dag_id] = runs.json()["total_entries"]
        return counts

    runs_before = dag_runs()

    # Forms: text/plain writes name=value, so JSON can be smuggled around the "=".
    forms = {
        "aprovar": ("text/plain", f"{api}/divergencias/aprovar", f'{{"ids":[{open_one}],"comentario":"x', '"}'),
        "rejeitar": ("text/plain", f"{api}/divergencias/{open_one}/rejeitar", '{"motivo":"x', 'yz"}'),
        "rejeitar?motivo": (
            "application/x-www-form-urlencoded",
            f"{api}/divergencias/{open_one}/rejeitar?motivo=fraude",
            "motivo",
            "fraude",
        ),
        "rollback": ("text/plain", f"{api}/sessoes/{session}/rollback", '{"motivo":"x', 'yz"}'),
    }
    with another_origin() as open_page:
        for name, (enctype, action, field, value) in forms.items():
            form = (
                f'<form method="post" enctype="{enctype}" action="{action}"><input name=\'{field}\' value=\'{value}\'>'
            )
            with page.expect_response(lambda r: r.request.method == "POST" and r.url.startswith(api)) as answer:
                open_page(page, f"{form}</form><script>document.forms[0].submit()</script>")
            # 422, not 401: the cookie went along, and the body was refused for not being JSON
            assert answer.value.status == 422, (name, answer.value.status)
            assert "Content-Type: application/json" in answer.value.text(), name

        open_page(page, "<p>outra página</p>")
        results = page.evaluate(
            """async ([api, id, session]) => {
                const send = async (path, options) => {
                  try { return (await fetch(api + path, { credentials: "include", ...options })).status; }
                  catch (error) { return error.name; }
                };
                const body = (value) => JSON.stringify(value);
                return [
                  await send("/divergencias/aprovar", { method: "POST", mode: "no-cors", body: body({ ids: [id] }) }),
                  await send("/divergencias/aprovar",
                    { method: "POST", mode: "no-cors", body: new Blob([body({ ids: [id] })]) }),
                  await send("/divergencias/processar",
                    { method: "POST", mode: "no-cors", body: body({ modo: "auto" }) }),
                  await send(`/sessoes/${session}/rollback`,
                    { method: "POST", mode: "no-cors", body: new Blob([body({ motivo: "fraude" })]) }),
                  await send(`/divergencias/${id}/rejeitar?motivo=fraude`, { method: "DELETE", mode: "no-cors" }),
                  await send(`/divergencias/${id}/rejeitar?motivo=fraude`, { method: "DELETE" }),
                  await send("/divergencias/aprovar", { method: "POST", headers: { "Content-Type": "application/json" },
                    body: body({ ids: [id] }) }),
                ];
            }""",
            [api, open_one, session],
        )
    # no-cors: sent, answer unreadable (0); a DELETE or JSON: refused by the browser (no CORS grant)
    assert results == [0, 0, 0, 0, "TypeError", "TypeError", "TypeError"]

    assert [(d["id"], d["status_processamento"]) for d in divergences(db)] == before
    assert db.execute("SELECT count(*) FROM audit.aprovacoes").fetchone()[0] == 0
    assert dag_runs() == runs_before


def test_someone_else_decided_meanwhile_and_old_messages_do_not_linger(api_server, browser, db, passwords):
    """aprovador rejects NF1 while it is open in controladora's list. Her Aprovar is refused
    with the status in pt-BR and what to do (it read "está REJECTED: só divergências DETECTED
    podem ser aprovadas"). That error, and any other, used to stay on screen over the next
    action that worked (the reloaded list, another tab), as if it had failed too. The rollback
    form showed on Execuções before any session was chosen (CSS overrode hidden)."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    run_session(db, DAY, DAY, modo="manual")
    ids = {d["idnfsexterno"]: d["id"] for d in divergences(db)}
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    queue = page.locator("#tabela-divergencias tbody")
    expect(queue.locator("tr")).to_have_count(2)
    message = page.locator("#mensagem")

    other = browser.new_context()
    second = other.new_page()
    log_in(second, api_server, "aprovador", passwords["aprovador"])
    rejected = second.request.post(
        f"{api_server}/divergencias/api/v1/divergencias/{ids['NF1']}/rejeitar", data={"motivo": "lançamento correto"}
    )
    assert rejected.status == 200, rejected.text()
    other.close()

    page.locator(f"tr[data-id='{ids['NF1']}'] input.marcar").check()
    page.locator("#aprovar").click()
    expect(message).to_have_class("mensagem erro")
    expect(message).to_contain_text(f"Divergência {ids['NF1']} está REJECTED (rejeitada)")
    expect(message).to_contain_text("recarregue a lista")
    page.get_by_role("button", name="Filtrar").click()
    expect(queue.locator("tr")).to_have_count(1)
    expect(message).to_be_hidden()

    # a filter typed wrong, then another tab: the error is not that tab's
    page.locator("input[name=diferenca_minima]").fill("abc")
    page.get_by_role("button", name="Filtrar").click()
    expect(message).to_contain_text("Diferença mínima: valor inválido")
    page.locator("input[name=diferenca_minima]").fill("")
    page.locator(f"tr[data-id='{ids['NF2']}'] input.marcar").check()
    page.locator("#aprovar").click()
    expect(message).to_contain_text("Aprovadas e aplicadas: 1")
    page.get_by_role("tab", name="Execuções").click()
    expect(message).to_be_hidden()

    undo = page.locator("#desfazer")
    expect(page.locator("#tabela-sessoes tbody tr")).to_have_count(2)
    expect(undo).to_be_hidden()
    page.locator("#tabela-sessoes tbody tr").first.get_by_role("button", name="Desfazer correções").click()
    expect(undo).to_be_visible()
    expect(undo.get_by_label("Motivo para desfazer")).to_be_focused()
    undo.get_by_role("button", name="Cancelar").click()
    expect(undo).to_be_hidden()


def test_a_slower_answer_to_an_earlier_filter_does_not_replace_the_latest(api_server, browser, db, passwords):
    """Filtrar on every status (a large, slow list), then on one nota fiscal: when the first
    answer came last, the table showed every divergence under filters naming one nota fiscal,
    its count and export links describing the other list. The latest request draws."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    run_session(db, DAY, DAY, modo="manual")
    page = browser.new_page()
    log_in(page, api_server, "controladora", passwords["controladora"])
    rows = page.locator("#tabela-divergencias tbody tr")
    expect(rows).to_have_count(2)

    held: list = []  # the first list request, answered only when the test lets it

    def hold_the_first(route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/divergencias/api/v1/divergencias?*", hold_the_first)
    page.locator("select[name=status_processamento]").select_option("")
    page.get_by_role("button", name="Filtrar").click()
    while not held:
        page.wait_for_timeout(50)
    page.locator("input[name=idnfsexterno]").fill("NF1")
    page.get_by_role("button", name="Filtrar").click()
    expect(rows).to_have_count(1)
    with page.expect_response(lambda response: "idnfsexterno" not in response.url):
        held[0].continue_()
    page.wait_for_timeout(1000)  # the older answer would have been drawn by now
    expect(rows).to_have_count(1)
    expect(page.locator("#contagem")).to_have_text("1–1 de 1")
    assert "idnfsexterno=NF1" in page.locator("#baixar-csv").get_attribute("href")
