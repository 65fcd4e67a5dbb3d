// smartpark's enterprise page: plain JavaScript, no build step. Everything it shows comes
// from the /v1 API with the session cookie (the same guard as an API key); writes carry
// the session's CSRF token. Text is set with textContent only.
"use strict";

const STALE_AFTER_S = 300; // no reading or KPI update for this long: the banner
const T = {
  zh: {
    title: "smartpark 园区能碳", scope: "查看", signOut: "退出", signInTitle: "登录",
    signInHelp: "输入园区为贵单位签发的 API 密钥。密钥只用于换取本次会话，不会保存在浏览器中。",
    key: "API 密钥", signIn: "登录", badKey: "密钥无效（未知、输入有误或已撤销）。",
    tooMany: "尝试次数过多，请稍后再试。", park: "园区（全部企业）",
    lastMinute: "最近一分钟（实时）", waiting: "等待下一分钟的数据……", today: "今日", month: "本月累计", quota: "能耗指标（用能权）",
    carbonBudget: "碳排放预算（碳排放双控）", alerts: "未关闭的告警", severity: "级别", subject: "对象",
    value: "数值 / 限值", since: "开始于", state: "状态", ack: "确认", acked: "已确认",
    noAlerts: "没有未关闭的告警。", cems: "在线监测（CEMS）", stack: "排口", hour: "最近有效小时",
    pollutants: "折算浓度 / 限值 (mg/m³)", exceedHours: "本月超标小时", quality: "数据质量",
    sensor: "传感器", completeness: "完整率（今日至今应收；今日首个数值前为昨日）", deadLetters: "最近被拒收的消息",
    noDead: "没有被拒收的消息。", stale: "已 {n} 分钟未收到新数据：请检查采集设备与网络。",
    updated: "更新于 {t}", notStored: "尚无数据", target: "目标", met: "达标", notMet: "未达标",
    quotaText: "本月已用 {used} tce（不含可再生能源），指标 {quota} tce（{pct}%）；按目前速度月末预计 {fc} tce（{fpct}%）。",
    noQuota: "未配置本月能耗指标。", noBudget: "未配置本月碳排放预算。", budget: "预算",
    quotaPending: "已配置本月能耗指标 {quota} tce，尚未计算：每日 00:15 计算截至前一日的用量。",
    budgetPending: "已配置本月碳排放预算 {budget} tCO₂，尚未计算：每日 00:15 计算截至前一日的排放。",
    budgetText: "本月已排放 {used} tCO₂（{method}，因子 {factor}），预算 {budget} tCO₂（{pct}%）；按目前速度月末预计 {fc} tCO₂（{fpct}%）。",
    location: "基于位置", market: "基于市场", chooseEnterprise: "选择企业查看指标、排口与数据质量。",
    firing: "告警中", acknowledged: "已确认", resolved: "已恢复",
    info: "提示", warning: "警告", critical: "严重", used: "已用（累计）", forecast: "预测",
    method: "碳排放方法：基于位置（电网平均排放因子 {grid}）；基于市场（绿电 0，其余按剩余因子 {residual}）；因子集 {set}；电力折标 {basis}。",
    failed: "请求失败：{m}",
    reports: "报告下载：月度能源与碳排放报告、年度能源利用状况报告、温室气体排放报告", reportOf: "{m} 月报",
    annualOf: "{y} 年度能源利用状况报告", ghgOf: "{y} 温室气体排放报告",
  },
  en: {
    title: "smartpark energy & carbon", scope: "View", signOut: "Sign out", signInTitle: "Sign in",
    signInHelp: "Enter the API key the park issued to you. It is exchanged for this session and not kept in the browser.",
    key: "API key", signIn: "Sign in", badKey: "This key is not valid (unknown, mistyped or revoked).",
    tooMany: "Too many attempts; try again in a moment.", park: "Park (all enterprises)",
    lastMinute: "Last minute (live)", waiting: "Waiting for the next minute's figures…", today: "Today", month: "Month to date", quota: "Energy-use quota",
    carbonBudget: "Carbon budget", alerts: "Open alerts", severity: "Severity",
    subject: "Subject", value: "Value / limit", since: "Since", state: "State", ack: "Acknowledge",
    acked: "Acknowledged", noAlerts: "No open alerts.", cems: "Stack monitoring (CEMS)",
    stack: "Stack", hour: "Last valid hour", pollutants: "Corrected mean / limit (mg/m³)",
    exceedHours: "Exceedance hours this month", quality: "Data quality", sensor: "Sensor",
    completeness: "Completeness (expected so far today; yesterday's until today's first figure)", deadLetters: "Recently refused messages", noDead: "No refused messages.",
    stale: "No new data for {n} min: check the meters and the network.", updated: "updated {t}",
    notStored: "no data yet", target: "target", met: "met", notMet: "not met",
    quotaText: "Used {used} tce this month (renewables excluded) of a {quota} tce quota ({pct}%); at this pace {fc} tce by month end ({fpct}%).",
    noQuota: "No quota set for this month.", noBudget: "No carbon budget set for this month.", budget: "budget",
    quotaPending: "A quota of {quota} tce is set for this month, not computed yet: the daily job at 00:15 computes the use up to the day before.",
    budgetPending: "A budget of {budget} tCO₂ is set for this month, not computed yet: the daily job at 00:15 computes the emissions up to the day before.",
    budgetText: "Emitted {used} tCO₂ this month ({method}, factor {factor}) of a {budget} tCO₂ budget ({pct}%); at this pace {fc} tCO₂ by month end ({fpct}%).",
    location: "location-based", market: "market-based", chooseEnterprise: "Choose an enterprise for its quota, stacks and data quality.",
    firing: "firing", acknowledged: "acknowledged", resolved: "resolved",
    info: "info", warning: "warning", critical: "critical", used: "used (cumulative)", forecast: "forecast",
    method: "CO2 methods: location-based (grid average factor {grid}); market-based (green power 0, the rest at the residual factor {residual}); factor set {set}; electricity converted by {basis}.",
    failed: "Request failed: {m}",
    reports: "Reports (download): monthly energy and carbon, annual energy use, greenhouse-gas inventory", reportOf: "{m}",
    annualOf: "{y} annual energy-use report", ghgOf: "{y} greenhouse-gas inventory",
  },
};
// The KPIs shown, with their units (the unit is part of every KPI's name).
const KPIS = [
  ["energy_tce", "能耗", "Energy", "tce"],
  ["energy_excl_renewables_tce", "计入双控的能耗", "Energy counted against the quota", "tce"],
  ["co2_location_t", "CO₂（基于位置）", "CO₂ (location-based)", "t"],
  ["co2_market_t", "CO₂（基于市场）", "CO₂ (market-based)", "t"],
  ["energy_tce_per_10k_cny", "万元增加值能耗", "Energy per 10k CNY added value", "tce/万元"],
  ["energy_excl_renewables_tce_per_10k_cny", "万元增加值能耗（不含可再生能源）", "Energy per 10k CNY, renewables excluded", "tce/万元"],
  ["co2_location_t_per_10k_cny", "万元增加值碳排放", "CO₂ per 10k CNY added value", "t/万元"],
  ["energy_kgce_per_output", "单位产品能耗", "Energy per unit of output", "kgce/unit"],
  ["product_energy_kgce_per_output", "单位产品能耗（按限额标准口径）", "Energy per unit of product (the standard's basis)", "kgce/unit"],
  ["co2_location_t_per_tce", "单位能耗碳排放（基于位置）", "CO₂ per tce (location-based)", "t/tce"],
  ["co2_market_t_per_tce", "单位能耗碳排放（基于市场）", "CO₂ per tce (market-based)", "t/tce"],
  ["clean_energy_share_pct", "清洁能源占比（仅已证明）", "Clean energy share (proven)", "%"],
  ["clean_energy_share_grid_implied_equal_value_pct", "清洁能源占比（含电网隐含，等价值）", "Clean energy share (grid-implied, equal value)", "%"],
  ["non_fossil_share_pct", "非化石能源占比（仅已证明）", "Non-fossil share (proven)", "%"],
  ["non_fossil_share_grid_implied_equal_value_pct", "非化石能源占比（含电网隐含，等价值）", "Non-fossil share (grid-implied, equal value)", "%"],
  ["pv_kwh", "光伏发电（自用）", "PV generation (self-consumed)", "kWh"],
  ["carbon_efficiency_grade", "碳效等级（1 最优）", "Carbon-efficiency grade (1 best)", ""],
];
const LIVE = ["energy_tce", "co2_location_t", "electricity_kwh", "clean_energy_share_pct"];
const LIVE_UNITS = { electricity_kwh: ["用电", "Electricity", "kWh"] };

const state = {
  lang: localStorage.getItem("smartpark.lang") || "zh",
  who: null, park: null, scope: null, names: {}, lastDataMs: 0, source: null,
};
const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) =>
  (T[state.lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const digits = unit === "%" ? 1 : Math.abs(v) >= 1000 ? 0 : Math.abs(v) >= 10 ? 2 : 4;
  const n = new Intl.NumberFormat(state.lang === "zh" ? "zh-CN" : "en-US", {
    maximumFractionDigits: digits,
  }).format(v);
  return unit ? `${n} ${unit}` : n;
}

function when(ms) {
  return new Date(ms).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB", {
    timeZone: state.park ? state.park.timezone : undefined,
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

// -- the API -------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (options.method && options.method !== "GET" && state.who) headers["X-CSRF-Token"] = state.who.csrf;
  const res = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (res.status === 401 && path !== "/session") {
    showSignIn();
    throw new Error("401");
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const err = new Error(body.detail || res.statusText);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

function showError(err) {
  if (err.message === "401") return;
  const box = $("error");
  box.textContent = t("failed", { m: err.message });
  box.hidden = false;
}

// -- sign in and out ------------------------------------------------------------------

function showSignIn() {
  if (state.source) state.source.close();
  state.who = null;
  $("dash").hidden = true;
  $("city").hidden = true;
  $("signout").hidden = true;
  $("scope-box").hidden = true;
  $("who").textContent = "";
  $("signin").hidden = false;
}

async function signIn(event) {
  event.preventDefault();
  const msg = $("signin-error");
  msg.hidden = true;
  const res = await fetch("/session", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key: $("key").value }),
  });
  $("key").value = "";
  if (!res.ok) {
    msg.textContent = res.status === 429 ? t("tooMany") : t("badKey");
    msg.hidden = false;
    return;
  }
  await start(await res.json());
}

async function signOut() {
  await fetch("/session/logout", {
    method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": state.who.csrf },
  });
  showSignIn();
}

// -- the page ---------------------------------------------------------------------------

async function start(who) {
  if (who.role === "city") return startCity(who); // city.js: the city's parks side by side
  state.who = who;
  $("signin").hidden = true;
  $("signout").hidden = false;
  $("who").textContent = who.name;
  state.park = await api(`/v1/parks/${who.park}`);
  const enterprises = await api(`/v1/parks/${who.park}/enterprises`);
  state.names = Object.fromEntries(enterprises.map((e) => [e.id, e.name]));
  state.names._park = `${state.park.name} · ${t("park")}`;
  const select = $("scope");
  select.replaceChildren();
  if (who.role === "operator") {
    for (const id of ["_park", ...enterprises.map((e) => e.id)]) {
      const option = el("option", id === "_park" ? t("park") : `${state.names[id]} (${id})`);
      option.value = id;
      select.append(option);
    }
    $("scope-box").hidden = false;
  }
  state.scope = who.role === "operator" ? "_park" : who.enterprise;
  select.value = state.scope;
  $("dash").hidden = false;
  liveWaiting();
  await render();
  openStream();
}

async function render() {
  $("dash").dataset.ready = "0";
  $("error").hidden = true;
  const enterprise = state.scope !== "_park";
  $("scope-name").textContent = state.names[state.scope] || state.scope;
  $("dash").dataset.scope = state.scope;
  for (const id of ["quota-box", "cems-box", "quality-box"]) $(id).hidden = !enterprise;
  reportLinks();
  const jobs = [scorecard(), alerts(), budget()];
  if (enterprise) jobs.push(quota(), cems(), quality(), freshness());
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === "rejected") showError(r.reason);
  $("dash").dataset.ready = "1";
}

function card(container, key, names, unit, entry) {
  const box = el("div", null, "card");
  box.dataset.kpi = key;
  box.append(el("div", state.lang === "zh" ? names[0] : names[1], "label"));
  const value = el("div", fmt(entry ? entry.value : null, unit), "value");
  if (entry && typeof entry.value === "number") value.dataset.value = String(entry.value);
  box.append(value);
  if (entry && entry.levels) {
    // 单位产品能耗 against each declared level (限定值, 准入值, 先进值, 标杆/基准水平)
    for (const [level, v] of Object.entries(entry.levels)) {
      const ok = v.met === true || v.met === 1;
      const name = state.lang === "zh" ? (state.levelNames || {})[level] || level : level;
      box.append(el("div", `${name} ${fmt(v.kgce_per_output, unit)} · ${ok ? t("met") : t("notMet")}`,
        ok ? "met" : "not-met"));
    }
    if (state.product) {
      const p = state.product;
      box.title = `${p.name} · ${p.standard || "—"} · ${p.basis} · ${p.source}${p.verify ? " (verify)" : ""}`;
    }
  }
  if (entry && entry.target !== undefined) {
    const ok = entry.met === true || entry.met === 1;
    const line = el("div", `${t("target")} ${fmt(entry.target, unit)} · ${ok ? t("met") : t("notMet")}`,
      ok ? "met" : "not-met");
    box.append(line);
  }
  container.append(box);
}

async function scorecard() {
  const sc = await api(`/v1/parks/${state.park.id}/scopes/${state.scope}/scorecard`);
  state.product = sc.product || null;
  state.levelNames = sc.product ? sc.product.level_names : {};
  for (const period of ["today", "month"]) {
    const box = $(period);
    box.replaceChildren();
    const data = sc[period];
    if (!data.stored) {
      box.append(el("p", t("notStored"), "muted"));
      continue;
    }
    const byName = Object.fromEntries(data.kpis.map((k) => [k.kpi, k]));
    for (const [key, zh, en, unit] of KPIS) {
      // per unit of output: the scope's own unit (t, kL, kpcs ...) from the registry
      const shown = key.endsWith("_per_output") ? unit.replace("unit", sc.output_unit || "unit") : unit;
      if (byName[key]) card(box, key, [zh, en], shown, byName[key]);
    }
    if (period === "today") methodNote(data.method);
  }
}

function methodNote(method) {
  const text = t("method", {
    grid: method.grid_factor || "–", residual: method.residual_factor || "–",
    set: method.factor_set || "–", basis: method.energy_basis || "–",
  });
  $("method").textContent = text;
  for (const node of document.querySelectorAll('[data-kpi^="co2_"]')) node.title = text;
}

function liveWaiting() {
  $("live-cards").replaceChildren(el("p", t("waiting"), "muted"));
  $("live-at").textContent = "";
}

function liveUpdate(update) {
  if (update.scope !== state.scope || update.window !== "1m") return;
  const box = $("live-cards");
  box.replaceChildren();
  for (const key of LIVE) {
    const known = KPIS.find((k) => k[0] === key);
    const names = known ? [known[1], known[2]] : LIVE_UNITS[key].slice(0, 2);
    const unit = known ? known[3] : LIVE_UNITS[key][2];
    card(box, key, names, unit, typeof update[key] === "number" ? { value: update[key] } : null);
  }
  $("live-at").textContent = `${when(update.start_ms)}–${when(update.end_ms)} · ${t("updated", { t: when(Date.now()) })}`;
  state.lastDataMs = Date.now();
  checkStale();
}

function localDay(ms) {
  // "YYYY-MM-DD" of the moment ``ms`` in the park's zone
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: state.park.timezone, year: "numeric", month: "2-digit", day: "2-digit",
  }).format(new Date(ms));
}

function thisMonthMs() {
  // the first moment of this month in the park's time zone
  const [y, m] = localDay(Date.now()).split("-").map(Number);
  // the zone's offset at that moment: its local midnight read back in UTC
  const guess = Date.UTC(y, m - 1, 1);
  const local = new Date(new Date(guess).toLocaleString("en-US", { timeZone: state.park.timezone }));
  const utc = new Date(new Date(guess).toLocaleString("en-US", { timeZone: "UTC" }));
  return guess - (local - utc);
}

function localMonth(back) {
  // "YYYY-MM" of this month (back = 0) or of the month before (1), in the park's zone
  const [y, m0] = localDay(Date.now()).split("-").map(Number);
  const m = m0 - back;
  const [yy, mm] = m < 1 ? [y - 1, m + 12] : [y, m];
  return `${yy}-${String(mm).padStart(2, "0")}`;
}

function reportLinks() {
  // the monthly report of this month and the month before, this year's annual energy-use
  // report and greenhouse-gas inventory, as XLSX and PDF: plain links, the session cookie
  // goes with them (the same guard as every /v1 route)
  const box = $("reports");
  box.replaceChildren();
  const base = `/v1/parks/${encodeURIComponent(state.park.id)}/scopes/${encodeURIComponent(state.scope)}/reports`;
  const links = (kind, query, name) => {
    for (const format of ["xlsx", "pdf"]) {
      const a = el("a", format.toUpperCase(), "download");
      a.href = `${base}/${kind}?${query}&format=${format}`;
      a.download = `${name}.${format}`;
      a.dataset.kind = kind;
      a.dataset.format = format;
      box.append(a, " ");
    }
    box.append(" ");
  };
  for (const back of [0, 1]) {
    const period = localMonth(back);
    box.append(el("span", t("reportOf", { m: period }) + " "));
    links("monthly", `period=${period}`, `${state.scope}-${period}-monthly`);
  }
  const year = localMonth(0).slice(0, 4);
  box.append(el("br"), el("span", t("annualOf", { y: year }) + " "));
  links("annual", `year=${year}`, `${state.scope}-${year}-annual`);
  box.append(el("span", t("ghgOf", { y: year }) + " "));
  links("ghg", `period=${year}`, `${state.scope}-${year}-ghg`);
}

function monthStart() {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 86_400_000);
}

async function quota() {
  const p = state.park.id, e = state.scope;
  const from = monthStart().toISOString(), to = new Date(Date.now() + 86_400_000).toISOString();
  const [rows, days, limits] = await Promise.all([
    api(`/v1/parks/${p}/enterprises/${e}/quota?start=${enc(from)}&end=${enc(to)}`),
    api(`/v1/parks/${p}/scopes/${e}/kpis?window=1d&start=${enc(from)}&end=${enc(to)}`),
    api(`/v1/parks/${p}/scopes/${e}/limits`),
  ]);
  // this month's burn-down point (a stored one of last month is not this month's)
  const q = rows.length && rows[rows.length - 1].start_ms >= thisMonthMs() ? rows[rows.length - 1] : null;
  const text = $("quota-text");
  if (!q) {
    // configured but not computed yet, not configured, or unknown to the API
    text.dataset.state = limits.quota_configured ? "pending" : limits.quota_configured === false ? "none" : "unknown";
    text.textContent = limits.quota_configured ? t("quotaPending", { quota: fmt(limits.quota_tce_month) })
      : limits.quota_configured === false ? t("noQuota") : t("notStored");
    delete text.dataset.used;
    $("burndown").replaceChildren();
    return;
  }
  text.dataset.state = "computed";
  text.textContent = t("quotaText", {
    used: fmt(q.used_tce), quota: fmt(q.quota_tce), pct: fmt(q.used_pct, ""),
    fc: fmt(q.forecast_tce), fpct: fmt(q.forecast_pct, ""),
  });
  text.dataset.used = String(q.used_tce);
  text.dataset.quota = String(q.quota_tce);
  burnDown($("burndown"), q, days.points, {
    field: "energy_excl_renewables_tce", used: "used_tce", limit: "quota_tce", unit: "tce", label: t("quota"),
  });
}

async function budget() {
  // 碳排放双控: the enterprise's or the park's monthly CO2 budget, on its stated method
  const p = state.park.id, s = state.scope;
  const from = monthStart().toISOString(), to = new Date(Date.now() + 86_400_000).toISOString();
  const [rows, days, limits] = await Promise.all([
    api(`/v1/parks/${p}/scopes/${s}/carbon-budget?start=${enc(from)}&end=${enc(to)}`),
    api(`/v1/parks/${p}/scopes/${s}/kpis?window=1d&start=${enc(from)}&end=${enc(to)}`),
    api(`/v1/parks/${p}/scopes/${s}/limits`),
  ]);
  const b = rows.length && rows[rows.length - 1].start_ms >= thisMonthMs() ? rows[rows.length - 1] : null;
  const text = $("budget-text");
  if (!b) {
    const set = limits.carbon_budget_configured;
    text.dataset.state = set ? "pending" : set === false ? "none" : "unknown";
    text.textContent = set ? t("budgetPending", { budget: fmt(limits.carbon_budget_t_month) })
      : set === false ? t("noBudget") : t("notStored");
    delete text.dataset.used;
    $("budget-burndown").replaceChildren();
    return;
  }
  text.dataset.state = "computed";
  text.textContent = t("budgetText", {
    used: fmt(b.used_co2_t), method: t(b.co2_method), factor: b.co2_factor, budget: fmt(b.budget_co2_t),
    pct: fmt(b.used_pct, ""), fc: fmt(b.forecast_co2_t), fpct: fmt(b.forecast_pct, ""),
  });
  text.title = `${b.co2_method} · ${b.co2_factor} · ${b.factor_set}`;
  text.dataset.used = String(b.used_co2_t);
  text.dataset.budget = String(b.budget_co2_t);
  burnDown($("budget-burndown"), b, days.points, {
    field: `co2_${b.co2_method}_t`, used: "used_co2_t", limit: "budget_co2_t", unit: "tCO₂", label: t("budget"),
  });
}

function burnDown(box, q, points, f) {
  // cumulative use per day this month, the limit, and the forecast to month end
  const month = new Date(q.start_ms);
  const xs = [], used = [], forecast = [], limitLine = [];
  let total = 0;
  const byDay = new Map(points.map((pt) => [pt.start_ms, pt.values[f.field] || 0]));
  const daily = q.days_elapsed ? q[f.used] / q.days_elapsed : 0;
  for (let d = 0; d < q.days_in_month; d++) {
    const ms = q.start_ms + d * 86_400_000;
    xs.push(ms / 1000);
    limitLine.push(q[f.limit]);
    if (d < q.days_elapsed) {
      total += byDay.get(ms) || 0;
      used.push(total);
      forecast.push(d === q.days_elapsed - 1 ? total : null);
    } else {
      used.push(null);
      forecast.push(q[f.used] + daily * (d - q.days_elapsed + 1));
    }
  }
  box.replaceChildren();
  if (typeof uPlot === "undefined" || !month) return;
  const width = Math.max(280, Math.min(box.clientWidth || 600, 900));
  new uPlot({
    width, height: 220, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.park.timezone),
    series: [
      {},
      { label: t("used"), stroke: "#1f6feb", width: 2, points: { show: true, size: 6 } },
      { label: t("forecast"), stroke: "#d97706", dash: [6, 4], width: 2 },
      { label: f.label, stroke: "#b91c1c", width: 1 },
    ],
    axes: [{}, { label: f.unit }],
  }, [xs, used, forecast, limitLine], box);
}

const enc = encodeURIComponent;

async function alerts() {
  const p = state.park.id;
  const scope = state.scope === "_park" ? "" : `&enterprise=${enc(state.scope)}`;
  const page = await api(`/v1/parks/${p}/alerts?state=firing&state=acknowledged${scope}&limit=50`);
  const body = $("alerts").querySelector("tbody");
  body.replaceChildren();
  $("alerts-none").hidden = page.alerts.length > 0;
  for (const a of page.alerts) {
    const row = el("tr");
    row.dataset.alert = a.id;
    row.dataset.state = a.state;
    row.className = `sev-${a.severity}`;
    row.append(el("td", t(a.severity)), el("td", `${a.subject}${state.scope === "_park" ? ` · ${a.enterprise}` : ""}`));
    row.append(el("td", `${fmt(a.value)} / ${fmt(a.limit)}`));
    row.append(el("td", a.fired_at ? when(Date.parse(a.fired_at)) : "–"));
    row.append(el("td", t(a.state)));
    const cell = el("td");
    if (a.state === "firing") {
      const button = el("button", t("ack"));
      button.type = "button";
      button.addEventListener("click", () => acknowledge(a.id, button));
      cell.append(button);
    }
    row.append(cell);
    row.title = a.message || "";
    body.append(row);
  }
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    await api(`/v1/alerts/${id}/ack`, { method: "POST" });
    button.textContent = t("acked");
  } catch (err) {
    button.disabled = false;
    showError(err);
  }
}

async function cems() {
  const p = state.park.id, e = state.scope;
  // this month's hours (in the park's zone) for the exceedances; each stack's last valid
  // hour from two days back at least, so the month's first hour still shows the last one
  const month = thisMonthMs();
  const from = new Date(Math.min(month, Date.now() - 2 * 86_400_000)).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  const rows = await api(`/v1/parks/${p}/enterprises/${e}/cems?start=${enc(from)}&end=${enc(to)}`);
  const stacks = new Map();
  for (const r of rows) {
    const s = stacks.get(r.sensor) || { last: null, exceeded: 0 };
    const keys = Object.keys(r).filter((k) => k.endsWith("_corrected"));
    if (r.start_ms >= month && keys.some((k) => r[`${k.slice(0, -10)}_exceeded`])) s.exceeded += 1;
    if (r.hour_valid && (!s.last || r.start_ms > s.last.start_ms)) s.last = r;
    stacks.set(r.sensor, s);
  }
  const body = $("cems").querySelector("tbody");
  body.replaceChildren();
  for (const [sensor, s] of [...stacks].sort()) {
    const row = el("tr");
    row.dataset.stack = sensor;
    row.append(el("td", sensor), el("td", s.last ? when(s.last.start_ms) : "–"));
    const parts = [];
    if (s.last) {
      for (const k of Object.keys(s.last).filter((k) => k.endsWith("_corrected")).sort()) {
        const p = k.slice(0, -10);
        parts.push(`${p.replace("_mg_m3", "").toUpperCase()} ${fmt(s.last[k])} / ${fmt(s.last[`${p}_limit`])}`);
      }
    }
    row.append(el("td", parts.join(" · ") || "–"), el("td", s.exceeded));
    if (s.exceeded) row.className = "not-met";
    body.append(row);
  }
}

async function quality() {
  const p = state.park.id, e = state.scope;
  // from two days back: each sensor's newest day, today so far once the 5-minute job
  // wrote it, yesterday's whole day in the day's first minutes
  const day = new Date(Date.now() - 2 * 86_400_000).toISOString(), to = new Date(Date.now() + 86_400_000).toISOString();
  const [rows, dead] = await Promise.all([
    api(`/v1/parks/${p}/enterprises/${e}/completeness?start=${enc(day)}&end=${enc(to)}`),
    api(`/v1/parks/${p}/enterprises/${e}/deadletters`),
  ]);
  const newest = new Map();
  for (const r of rows) if (!newest.has(r.sensor) || r.start_ms > newest.get(r.sensor).start_ms) newest.set(r.sensor, r);
  const body = $("completeness").querySelector("tbody");
  body.replaceChildren();
  const today = localDay(Date.now());
  for (const [sensor, r] of [...newest].sort()) {
    // the job's own figure: today's expects what was due by its run (90 %: complete)
    const pct = r.completeness_pct;
    const day = localDay(r.start_ms);
    const row = el("tr");
    row.dataset.sensor = sensor;
    row.dataset.day = day;
    const text = `${fmt(pct, "%")} (${r.readings}/${r.expected})`;
    row.append(el("td", sensor), el("td", day === today ? text : `${text} · ${day}`));
    if (!r.complete) row.className = "not-met";
    body.append(row);
  }
  const list = $("deadletters");
  list.replaceChildren();
  if (!dead.length) list.append(el("li", t("noDead"), "muted"));
  for (const d of dead.slice(0, 10)) {
    const reasons = d.problems.map((x) => `${x.reason}: ${x.detail}`).join("; ");
    const item = el("li", `${d.received_ms ? when(d.received_ms) : ""} ${d.sensor} — ${reasons}`);
    item.dataset.sensor = d.sensor;
    list.append(item);
  }
}

async function freshness() {
  const rows = await api(`/v1/parks/${state.park.id}/enterprises/${state.scope}/latest`);
  const newest = rows.reduce((m, r) => Math.max(m, r.ts_ms), 0);
  state.lastDataMs = Math.max(state.lastDataMs, newest);
  checkStale();
}

function checkStale() {
  const banner = $("stale");
  const age = (Date.now() - state.lastDataMs) / 1000;
  banner.hidden = !state.lastDataMs || age < STALE_AFTER_S;
  if (!banner.hidden) banner.textContent = t("stale", { n: Math.floor(age / 60) });
}

// -- live: the API's event stream --------------------------------------------------------

let refresh = null;
function later(fn) {
  clearTimeout(refresh);
  refresh = setTimeout(fn, 1000);
}

async function openStream() {
  if (state.source) state.source.close();
  try {
    const { ticket } = await api("/v1/stream/ticket", { method: "POST" });
    const source = new EventSource(`/v1/stream?ticket=${enc(ticket)}`);
    state.source = source;
    source.onopen = () => { document.body.dataset.stream = "open"; };
    source.addEventListener("kpi", (ev) => {
      const update = JSON.parse(ev.data);
      liveUpdate(update);
      if (update.scope === state.scope && update.window !== "1m") later(scorecard);
    });
    source.addEventListener("alert", (ev) => {
      const alert = JSON.parse(ev.data);
      if (state.scope === "_park" || alert.enterprise === state.scope) later(alerts);
    });
    source.onerror = () => {
      // a ticket opens one stream: ask for a new one and reconnect
      document.body.dataset.stream = "closed";
      source.close();
      if (state.who) setTimeout(openStream, 3000);
    };
  } catch (err) {
    showError(err);
  }
}

// -- language ------------------------------------------------------------------------------

function applyLang() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
  document.title = t("title");
}

async function toggleLang() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("smartpark.lang", state.lang);
  applyLang();
  if (state.who) await start(state.who);
}

document.addEventListener("DOMContentLoaded", async () => {
  applyLang();
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("lang").addEventListener("click", toggleLang);
  $("scope").addEventListener("change", async (ev) => {
    state.scope = ev.target.value;
    liveWaiting();
    await render();
  });
  setInterval(checkStale, 30_000);
  try {
    await start(await api("/session"));
  } catch {
    showSignIn();
  }
});
