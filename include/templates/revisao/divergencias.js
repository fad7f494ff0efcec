// Review page: talks only to /divergencias/api/v1 on the same origin, so every fetch carries
// Airflow's login cookie. Everything shown goes through textContent (no HTML from data).
"use strict";

const API = "/divergencias/api/v1";
const PAGE_SIZE = 50;
const COLORS = ["#2f6fdf", "#e07a10", "#1f7a4d", "#b3261e", "#7b4fd0", "#0f8a9d", "#8a6d00", "#52606d"];
const state = { offset: 0, total: 0, canEdit: false, rules: {}, queueRequests: 0 };

const $ = (selector) => document.querySelector(selector);

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// Money arrives as decimal text ("-1234.5", "70000.00") and is formatted from its digits,
// never through Number(): a JS number is a double and would show a value the database does
// not hold. Same text as Intl's pt-BR BRL ("R$ 1.234,50", a no-break space after R$).
function brl(value) {
  if (value === null || value === undefined) return "—";
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(value));
  if (!match) return String(value);
  const [, sign, whole, fraction = ""] = match;
  const grouped = whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  const negative = sign === "-" && /[1-9]/.test(whole + fraction);
  return `${negative ? "-" : ""}R$\u00a0${grouped},${fraction.padEnd(2, "0")}`;
}

// What a controller types, as the API's decimal text: "R$ 1.234,56", "1234,5" and "1234"
// give "1234.56", "1234.5" and "1234". Dots only as thousands separators (groups of three)
// before a comma, and at most two decimal places after it: "1.234" (the money rules read
// 1.234 in the source), "1.234.56" or "12.34" could mean two things and are refused, never
// guessed, with a message naming the field. null when empty.
function parseMoney(text, label) {
  if (String(text).trim() === "") return null;
  const compact = String(text).replace(/R\$/gi, "").replace(/[\s\u00a0]/g, "");
  const match = /^(?:(\d{1,3}(?:\.\d{3})+)(?=,)|(\d+))(?:,(\d{1,2}))?$/.exec(compact);
  if (!match) {
    throw new Error(`${label}: valor inválido "${String(text).trim()}". Use o formato 1.234,56 (vírgula antes dos centavos).`);
  }
  const whole = (match[1] ?? match[2]).replaceAll(".", "");
  return match[3] === undefined ? whole : `${whole}.${match[3]}`;
}

// A history entry's detalhes as a controller reads them ("valor sugerido: R$ 1.000,00 · …");
// valor_original is the text the field held and is shown as it was, not as money.
const DETAIL_LABELS = { valor_original: "valor original (texto)", valor_sugerido: "valor sugerido",
  valor_aplicado: "valor aplicado", motivo_rejeicao: "motivo da rejeição", motivo: "motivo" };
const MONEY_DETAILS = new Set(["valor_sugerido", "valor_aplicado"]);

function historyDetails(details) {
  if (!details || typeof details !== "object") return details ?? "";
  return Object.entries(details).map(([key, value]) => {
    const text = MONEY_DETAILS.has(key) ? brl(value)
      : value !== null && typeof value === "object" ? JSON.stringify(value) : value ?? "—";
    return `${DETAIL_LABELS[key] || key.replaceAll("_", " ")}: ${text}`;
  }).join(" · ");
}

// Counts with pt-BR thousands (1.574); a decimal's text with a comma (0,95), digit for digit.
function count(value) {
  return typeof value === "number" ? value.toLocaleString("pt-BR") : value ?? "—";
}

function decimal(value) {
  return value === null || value === undefined ? "—" : String(value).replace(".", ",");
}

function dateTime(value) {
  return value ? new Date(value).toLocaleString("pt-BR") : "—";
}

function day(value) {
  return value ? value.split("-").reverse().join("/") : "—";
}

function show(text, isError = false) {
  const box = $("#mensagem");
  box.textContent = text;
  box.classList.toggle("erro", isError);
  box.hidden = false;
}

// Each action the controller starts replaces the last one's message: an error left on screen
// after the next action succeeded (a filter typed right, the connection back, another tab)
// read as if that action had failed too.
function clearMessage() {
  $("#mensagem").hidden = true;
}

// To Airflow's login, back here afterwards. Airflow shows this page in a frame sandboxed
// without allow-top-navigation, where sending the whole window fails: the login then opens
// in the frame, and comes back to the page in it.
function toLogin() {
  try {
    window.top.location.href = "/auth/login?next=" + encodeURIComponent(window.top.location.href);
  } catch {
    window.location.href = "/auth/login?next=" + encodeURIComponent(window.location.href);
  }
}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(API + path, {
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      ...options,
    });
  } catch {
    // The browser's own text ("Failed to fetch") is English and says nothing to a controller.
    throw new Error("Sem conexão com o servidor do Airflow: verifique a rede e tente de novo " +
      "(recarregue a lista para ver se uma decisão enviada foi registrada).");
  }
  if (response.status === 401) {
    toLogin();
    throw new Error("Sessão expirada: faça login novamente.");
  }
  if (response.status === 403) {
    // Airflow's own answer is a bare English "Forbidden".
    throw new Error("Sem permissão para esta ação: consultar exige acesso de leitura à DAG " +
      "divergencias_diarias no Airflow; aprovar, rejeitar, processar e desfazer, acesso de edição.");
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = body?.detail;
    const text = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : detail;
    // No detail of ours (a proxy's 502/504 page, an unexpected 500): a bare "Erro 502" left
    // the controller guessing whether a decision went through.
    throw new Error(text || `O servidor respondeu com erro ${response.status}, sem explicação: tente de novo ` +
      "em instantes (recarregue a lista para ver se uma decisão enviada foi registrada).");
  }
  return body;
}

function filters() {
  const params = new URLSearchParams();
  for (const [key, text] of new FormData($("#filtros"))) {
    const value = key === "diferenca_minima" ? parseMoney(text, "Diferença mínima") : text;
    if (value !== null && value !== "") params.set(key, value);
  }
  return params;
}

// The list's "Valor atual": the amount detection read, as pt-BR money like the columns beside
// it (the field's text "17000.00" reads as a malformed number to a pt-BR eye). Text the money
// rules cannot read has no amount and is shown as found; the text itself stays in the tooltip
// and in Detalhes.
function currentAmount(d) {
  if (d.valor_anterior !== null && d.valor_anterior !== undefined) return brl(d.valor_anterior);
  return d.valor_original === null || String(d.valor_original).trim() === "" ? "(vazio)" : d.valor_original;
}

// The database's codes as a controller reads them; the code itself stays in a tooltip (and
// in the exports), unknown codes show as they are.
const STATUS_LABELS = {
  DETECTED: "Aberta", AUTO_APPLIED: "Corrigida automaticamente", APPROVED: "Aprovada", REJECTED: "Rejeitada",
  RESOLVED: "Resolvida", ROLLED_BACK: "Desfeita",
  RUNNING: "Em execução", COMPLETED: "Concluída", PARTIAL: "Parcial", FAILED: "Falhou",
};
function label(labels, code) {
  return code ? labels[code] || code : "—";
}

function statusBadge(status) {
  return el("span", label(STATUS_LABELS, status), { class: `status status-${status}`, title: status ?? "" });
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = cell instanceof Node ? document.createElement("td") : el("td", cell);
    if (cell instanceof Node) td.append(cell);
    tr.append(td);
  }
  return tr;
}

// Only the latest list request draws the table: an earlier, slower answer (the filters before
// the last Filtrar, the page before a second click on Próxima) arriving last showed rows that
// neither the filters on screen, the count nor the export links described.
async function loadQueue() {
  const params = filters();
  params.set("limit", PAGE_SIZE);
  params.set("offset", state.offset);
  const request = ++state.queueRequests;
  const page = await call(`/divergencias?${params}`);
  if (request !== state.queueRequests) return;
  if (!page.itens.length && state.offset > 0) {
    // Decisions (here or by someone else) emptied this page: show the last page that has rows.
    // The offset only goes down (an empty page means total <= offset), so this ends.
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
    return loadQueue();
  }
  state.total = page.total;
  const body = $("#tabela-divergencias tbody");
  body.replaceChildren();
  for (const d of page.itens) {
    const check = el("input", null, { type: "checkbox", class: "marcar", "data-id": d.id,
      "data-token": d.token_valores, "aria-label": `Marcar ${d.id}` });
    check.disabled = d.status_processamento !== "DETECTED";
    const detail = el("button", "Detalhes", { type: "button", "aria-label": `Detalhes da divergência ${d.id}` });
    detail.addEventListener("click", () => openDetail(d.id, detail));
    const approvals = d.aprovacoes_pendentes.length
      ? `1ª: ${d.aprovacoes_pendentes.join(", ")} (${brl(d.valor_pendente)})`
      : d.requer_dupla_aprovacao && d.status_processamento === "DETECTED" ? "exige 2" : "";
    const tr = row([check, String(d.id), d.idnfsexterno, d.regra || d.tipo_divergencia, d.campo_afetado,
      currentAmount(d), brl(d.valor_sugerido), brl(d.diferenca), d.competencia || "—",
      statusBadge(d.status_processamento), dateTime(d.detectado_em), approvals, detail]);
    tr.dataset.id = d.id;
    if (d.valor_original !== null) tr.children[5].title = `Texto no campo: ${d.valor_original}`;
    tr.children[7].classList.add("num");
    check.addEventListener("change", () => tr.classList.toggle("selecionada", check.checked));
    body.append(tr);
  }
  const last = Math.min(state.offset + PAGE_SIZE, state.total);
  $("#contagem").textContent = state.total
    ? `${count(state.offset + 1)}–${count(last)} de ${count(state.total)}` : "Nenhuma divergência";
  $("#anterior").disabled = state.offset === 0;
  $("#proxima").disabled = last >= state.total;
  $("#marcar-todas").checked = false;
  const query = filters();
  $("#baixar-csv").href = `${API}/relatorios/divergencias/export?formato=csv&${query}`;
  $("#baixar-excel").href = `${API}/relatorios/divergencias/export?formato=excel&${query}`;
}

// Baixar CSV / Excel through a hidden frame: a file arrives as a download and the page stays,
// while an error answer (an expired session, the database down, too many rows for Excel)
// followed as a link would replace the page with the API's bare JSON. The frame only loads
// when the answer is not a file: its detail is shown, after /eu has sent an expired session
// to the login like any other action.
function download(event) {
  event.preventDefault();
  const link = event.currentTarget;
  if (link.getAttribute("href") === "#") return;
  clearMessage();
  document.getElementById("baixando")?.remove();
  const frame = el("iframe", null, { id: "baixando", title: "Download", hidden: "" });
  frame.addEventListener("load", async () => {
    let detail = null;
    try {
      detail = JSON.parse(frame.contentDocument.body.textContent).detail;
    } catch {
      // not our JSON (a proxy's page, the browser's own error page): /eu says what is wrong
    }
    frame.remove();
    try {
      await call("/eu");
      const text = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : detail;
      show(`O arquivo não foi gerado: ${text || "erro no servidor, tente de novo."}`, true);
    } catch (error) {
      show(error.message, true);
    }
  });
  frame.src = link.href;
  document.body.append(frame);
}

function selected() {
  return [...document.querySelectorAll(".marcar:checked")];
}

// The values each ticked row shows, as the list handed them out: a run that refreshed one
// since (a newer booking, a changed reference) makes the API refuse the decision (409)
// instead of applying a value, or overwriting a booking, this page never showed.
function seenTokens(boxes) {
  return Object.fromEntries(boxes.map((box) => [box.dataset.id, box.dataset.token]));
}

// One decision at a time: the buttons stay disabled until the answer and the reload are in,
// so a double click sends one request (the second would answer 409 "está APPROVED" over
// the success message, as if the approval had failed).
async function decide(kind) {
  const buttons = [$("#aprovar"), $("#rejeitar")];
  for (const button of buttons) button.disabled = true;
  clearMessage();
  try {
    await sendDecision(kind);
  } finally {
    for (const button of buttons) button.disabled = !state.canEdit;
  }
}

async function sendDecision(kind) {
  const boxes = selected();
  const ids = boxes.map((box) => Number(box.dataset.id));
  const vistos = seenTokens(boxes);
  const reason = $("#motivo").value.trim();
  if (!ids.length) return show("Marque ao menos uma divergência.", true);
  try {
    if (kind === "aprovar") {
      const valor = parseMoney($("#valor").value, "Valor a aplicar");
      const payload = { ids, comentario: reason || null, vistos };
      if (valor) payload.valor = valor;
      const result = await call("/divergencias/aprovar", { method: "POST", body: JSON.stringify(payload) });
      const waiting = result.aguardando_segunda_aprovacao;
      show(`Aprovadas e aplicadas: ${result.aprovadas.length}` +
        (waiting.length ? `; aguardando segunda aprovação: ${waiting.join(", ")}` : "") +
        (result.sessao_id ? ` (sessão ${result.sessao_id})` : ""));
    } else {
      if (reason.length < 3) return show("Informe o motivo da rejeição.", true);
      const result = await call("/divergencias/rejeitar", { method: "POST", body: JSON.stringify({ ids, motivo: reason, vistos }) });
      show(`Rejeitadas: ${result.rejeitadas.length}`);
    }
    $("#motivo").value = "";
    $("#valor").value = "";
  } catch (error) {
    return show(error.message, true);
  }
  // The decision is recorded: a filter typed wrong must not make it look as if it failed.
  try {
    await loadQueue();
  } catch (error) {
    show(`${$("#mensagem").textContent}. A lista não foi recarregada: ${error.message}`);
  }
}

// The panel covers the list but comes after it in the page: the keyboard is taken into it
// and, on Escape or ×, back to the button that opened it.
let detailOpener = null;

function closeDetail() {
  $("#detalhe").hidden = true;
  if (detailOpener?.isConnected) detailOpener.focus();
  detailOpener = null;
}

async function openDetail(id, opener = null) {
  try {
    const d = await call(`/divergencias/${id}`);
    $("#detalhe-titulo").textContent = `Divergência ${d.id}: ${d.regra?.rotulo || d.tipo_divergencia}`;
    const fields = $("#detalhe-campos");
    fields.replaceChildren();
    const pairs = [["Nota fiscal", d.idnfsexterno], ["Campo", d.campo_afetado],
      ["Status", `${label(STATUS_LABELS, d.status_processamento)} (${d.status_processamento})`],
      ["Valor original (texto)", d.valor_original ?? "(vazio)"], ["Valor atual", brl(d.valor_anterior)],
      ["Valor de referência (texto)", d.dados_contextuais?.valor_referencia],
      ["Valor sugerido", brl(d.valor_sugerido)], ["Valor aplicado", brl(d.valor_aplicado)],
      ["Diferença", brl(d.diferenca)], ["Competência", d.competencia], ["Confiança", decimal(d.confidence_score)],
      ["Venda processada em", dateTime(d.dta_processamento)], ["Detectada em", dateTime(d.detectado_em)],
      ["Processada por", d.processado_por], ["Motivo da rejeição", d.motivo_rejeicao],
      ["Não avaliada pelas execuções", d.dados_contextuais?.motivo_nao_avaliada],
      ["Não aplicada automaticamente", d.dados_contextuais?.motivo_nao_aplicada],
      ["Regra", d.regra && (d.regra.ativo ? d.regra.descricao : `${d.regra.descricao} (regra inativa)`)]];
    for (const [label, value] of pairs) fields.append(el("dt", label), el("dd", value ?? "—"));
    const history = $("#detalhe-historico tbody");
    history.replaceChildren(...d.historico.map((h) => row([dateTime(h.registrado_em),
      label(STATUS_LABELS, h.status_anterior), label(STATUS_LABELS, h.status_novo), h.usuario, h.sessao_id ?? "—",
      historyDetails(h.detalhes)])));
    const approvals = $("#detalhe-aprovacoes tbody");
    approvals.replaceChildren(...d.aprovacoes.map((a) => row([dateTime(a.aprovado_em), a.usuario, brl(a.valor),
      a.comentario || "", a.situacao])));
    $("#detalhe").hidden = false;
    detailOpener = opener;
    $("#fechar-detalhe").focus();
  } catch (error) {
    show(error.message, true);
  }
}

async function loadRuns() {
  const page = await call("/auditoria/sessoes?limit=50");
  const body = $("#tabela-sessoes tbody");
  body.replaceChildren();
  for (const s of page.itens) {
    const undo = el("button", "Desfazer correções", { type: "button", "data-sessao": s.id });
    undo.disabled = !state.canEdit || !s.correcoes_ativas;
    undo.addEventListener("click", () => rollback(s.id, s.correcoes_ativas));
    const period = s.data_inicio ? `${day(s.data_inicio)} a ${day(s.data_fim)}` : "—";
    const tr = row([String(s.id), s.tipo_sessao_rotulo, statusBadge(s.status), dateTime(s.inicio_processamento), period,
      s.modo || "—", ...[s.total_registros_analisados, s.divergencias_detectadas, s.correcoes_aplicadas,
        s.correcoes_pendentes, s.erros_encontrados].map(count), undo]);
    for (const i of [6, 7, 8, 9, 10]) tr.children[i].classList.add("num");
    body.append(tr);
  }
}

// The reason is asked on the page: Airflow's frame is sandboxed without allow-modals, where
// window.prompt returns nothing and the button did nothing.
function rollback(id, active) {
  const form = $("#desfazer");
  form.dataset.sessao = id;
  $("#desfazer-titulo").textContent = `Desfazer as ${active} correção(ões) ativas da sessão ${id}`;
  form.elements.motivo.value = "";
  form.hidden = false;
  form.elements.motivo.focus();
}

// A form that starts a DAG run sends one request at a time: its button stays disabled until
// the answer is in, so a double click does not queue the run twice.
async function submitOnce(form, action) {
  const button = form.querySelector("button[type=submit]");
  if (button.disabled) return;
  button.disabled = true;
  clearMessage();
  try {
    await action();
  } finally {
    button.disabled = !state.canEdit;
  }
}

async function confirmRollback(event) {
  event.preventDefault();
  const form = $("#desfazer");
  const reason = form.elements.motivo.value.trim();
  if (reason.length < 3) return show("Informe o motivo para desfazer (3 caracteres ou mais).", true);
  await submitOnce(form, async () => {
    try {
      const run = await call(`/sessoes/${form.dataset.sessao}/rollback`,
        { method: "POST", body: JSON.stringify({ motivo: reason }) });
      form.hidden = true;
      show(`Rollback disparado: execução ${run.dag_run_id} de ${run.dag_id}.`);
    } catch (error) {
      show(error.message, true);
    }
  });
}

async function process(event) {
  event.preventDefault();
  const form = new FormData($("#processar"));
  const payload = { modo: form.get("modo") };
  if (form.get("data_inicio")) payload.data_inicio = form.get("data_inicio");
  if (form.get("data_fim")) payload.data_fim = form.get("data_fim");
  await submitOnce($("#processar"), async () => {
    try {
      const run = await call("/divergencias/processar", { method: "POST", body: JSON.stringify(payload) });
      show(`Execução disparada: ${run.dag_run_id}.`);
    } catch (error) {
      show(error.message, true);
    }
  });
}

function card(label, value) {
  const box = el("div", null, { class: "cartao" });
  box.append(el("strong", value), el("span", label));
  return box;
}

async function loadDashboard() {
  const [summary, daily] = await Promise.all([call("/metricas/resumo"), call("/metricas/diarias?dias=30")]);
  $("#cartoes").replaceChildren(card("abertas", count(summary.divergencias_abertas)),
    card("criticidade", summary.criticidade), card("aguardando 2ª aprovação", count(summary.aguardando_segunda_aprovacao)),
    card("diferença em aberto", brl(summary.diferenca_aberta_total)));
  drawChart(daily);
}

// Stacked bars: one per day of the last 30, one colour per rule; inline SVG, no library.
function drawChart(points) {
  const days = [...Array(30).keys()].map((i) => {
    const d = new Date();
    d.setDate(d.getDate() - 29 + i);
    return d.toLocaleDateString("sv-SE");
  });
  const rules = [...new Set(points.map((p) => p.tipo_divergencia))].sort();
  const totals = Object.fromEntries(days.map((d) => [d, 0]));
  for (const p of points) if (p.dia in totals) totals[p.dia] += p.total;
  const max = Math.max(1, ...Object.values(totals));
  const [width, height, left, bottom] = [900, 240, 36, 24];
  const bar = (width - left) / days.length;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Divergências por dia e regra");
  svg.style.width = "100%";
  svg.style.maxWidth = `${width}px`;
  const scale = (height - bottom - 8) / max;
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("text", { x: 0, y: 12, "font-size": 11 }, String(max));
  add("line", { x1: left - 2, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#9aa5b1" });
  days.forEach((d, i) => {
    let y = height - bottom;
    rules.forEach((rule, r) => {
      const point = points.find((p) => p.dia === d && p.tipo_divergencia === rule);
      if (!point) return;
      const h = point.total * scale;
      y -= h;
      const rect = add("rect", { x: left + i * bar + 1, y, width: bar - 2, height: h, fill: COLORS[r % COLORS.length] });
      rect.append(Object.assign(document.createElementNS(ns, "title"), {
        textContent: `${day(d)} · ${point.regra || rule}: ${point.total}` }));
    });
    if (i % 5 === 0) add("text", { x: left + i * bar, y: height - 6, "font-size": 10 }, day(d).slice(0, 5));
  });
  const legend = el("div", null, { class: "legenda" });
  rules.forEach((rule, r) => {
    const label = points.find((p) => p.tipo_divergencia === rule)?.regra || rule;
    const item = el("span", label);
    item.style.setProperty("--cor", COLORS[r % COLORS.length]);
    legend.append(item);
  });
  $("#grafico").replaceChildren(svg, legend);
}

function selectTab(name) {
  clearMessage();
  for (const tab of document.querySelectorAll("[role=tab]")) tab.setAttribute("aria-selected", tab.dataset.aba === name);
  for (const section of document.querySelectorAll(".aba")) section.hidden = section.id !== `aba-${name}`;
  const load = { fila: loadQueue, execucoes: loadRuns, painel: loadDashboard }[name];
  load().catch((error) => show(error.message, true));
}

async function start() {
  const [me, rules] = await Promise.all([call("/eu"), call("/regras")]);
  state.canEdit = me.pode_editar;
  $("#usuario").textContent = `Conectado como ${me.usuario}` + (me.pode_editar ? "" : " (somente leitura)");
  for (const button of document.querySelectorAll("#aprovar, #rejeitar, #processar button")) button.disabled = !me.pode_editar;
  const select = $("#filtro-regra");
  for (const rule of rules) {
    const name = rule.rotulo || rule.codigo;
    select.append(el("option", rule.ativo ? name : `${name} (inativa)`, { value: rule.codigo }));
  }
  $("#filtros").addEventListener("submit", (event) => {
    event.preventDefault();
    clearMessage();
    state.offset = 0;
    loadQueue().catch((error) => show(error.message, true));
  });
  // Paging re-reads the filters, so a bad amount typed meanwhile must show its message here too.
  const page = () => {
    clearMessage();
    loadQueue().catch((error) => show(error.message, true));
  };
  $("#anterior").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); page(); });
  $("#proxima").addEventListener("click", () => { state.offset += PAGE_SIZE; page(); });
  $("#marcar-todas").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll(".marcar:not(:disabled)")) {
      box.checked = event.target.checked;
      box.dispatchEvent(new Event("change"));
    }
  });
  for (const link of document.querySelectorAll(".downloads a")) link.addEventListener("click", download);
  $("#aprovar").addEventListener("click", () => decide("aprovar"));
  $("#rejeitar").addEventListener("click", () => decide("rejeitar"));
  $("#fechar-detalhe").addEventListener("click", closeDetail);
  $("#detalhe").addEventListener("keydown", (event) => { if (event.key === "Escape") closeDetail(); });
  $("#processar").addEventListener("submit", process);
  $("#desfazer").addEventListener("submit", confirmRollback);
  $("#desfazer-cancelar").addEventListener("click", () => { $("#desfazer").hidden = true; });
  for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => selectTab(tab.dataset.aba));
  await loadQueue();
}

start().catch((error) => show(error.message, true));
