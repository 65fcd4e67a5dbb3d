// smartpark's city page: a city key's parks side by side, read from one route
// (/v1/cities/{city}/scorecard) with the session cookie; nothing of an enterprise is asked
// for or shown. Loaded after app.js, whose helpers (state, $, t, el, fmt, api) it uses.
// Text is set with textContent only.
"use strict";

Object.assign(T.zh, {
  cityTitle: "{city} 各园区（本月至今）", rank: "排名", parkName: "园区",
  share: "清洁能源占比（评判口径）", milestones: "目标 2025/2030/2035", carbon: "单位能耗碳排放 / 目标",
  energy: "能耗", co2Loc: "CO₂（基于位置）", co2Mkt: "CO₂（基于市场）",
  energyIntensity: "万元增加值能耗", co2Intensity: "万元增加值碳排放", quotaCol: "能耗指标（企业）",
  budgetCol: "园区碳排放预算", completenessCol: "数据完整率", cityTotal: "全市合计（各园区之和）",
  breached: "已超", forecast_breach: "预计超", on_track: "正常", not_computed: "已配置，未计算",
  not_configured: "未配置", unknown: "未知",
  quotaDetail: "{breached} 家已超、{ahead} 家预计超（{computed}/{n} 家有指标的已计算）；最高预测 {max}",
  budgetDetail: "{used} / {budget} tCO₂（{pct}）",
  totalQuota: "{breached} 家企业已超指标，{ahead} 家预计超", totalBudget: "{breached} 个园区已超预算，{ahead} 个预计超",
  sensorDays: "{n} 个传感器日",
  cityNote: "清洁能源占比按各园区里程碑的评判口径（{variants}）；合计为各园区之和，园区之间不相抵；强度与占比不相加。",
  noParkFigures: "本月尚无数据",
});
Object.assign(T.en, {
  cityTitle: "{city}: parks this month to date", rank: "Rank", parkName: "Park",
  share: "Clean-energy share (judged variant)", milestones: "Milestones 2025/2030/2035",
  carbon: "CO₂ per tce / target", energy: "Energy", co2Loc: "CO₂ (location-based)",
  co2Mkt: "CO₂ (market-based)", energyIntensity: "Energy per 10k CNY", co2Intensity: "CO₂ per 10k CNY",
  quotaCol: "Energy-use quotas (enterprises)", budgetCol: "Park carbon budget",
  completenessCol: "Data completeness", cityTotal: "City total (sum of parks)",
  breached: "over", forecast_breach: "forecast over", on_track: "on track",
  not_computed: "set, not computed yet", not_configured: "not set", unknown: "unknown",
  quotaDetail: "{breached} over, {ahead} forecast over ({computed} of {n} with a quota computed); highest forecast {max}",
  budgetDetail: "{used} / {budget} tCO₂ ({pct})",
  totalQuota: "{breached} enterprises over their quota, {ahead} forecast over",
  totalBudget: "{breached} parks over their budget, {ahead} forecast over",
  sensorDays: "{n} sensor-days",
  cityNote: "Clean-energy shares are judged on each park's milestone variant ({variants}); totals are sums of the parks, never netted across parks; intensities and shares are not added.",
  noParkFigures: "no figures this month yet",
});

const CITY_COLUMNS = [
  "rank", "parkName", "share", "milestones", "carbon", "energy", "co2Loc", "co2Mkt",
  "energyIntensity", "co2Intensity", "quotaCol", "budgetCol", "completenessCol",
];

function cityCell(row, key, value, unit, cls) {
  const td = el("td", fmt(value, unit), cls);
  td.dataset.k = key;
  if (typeof value === "number") td.dataset.value = String(value);
  row.append(td);
  return td;
}

function statusCell(row, key, status, detail) {
  const td = el("td", null, `status-${status}`);
  td.dataset.k = key;
  td.dataset.status = status;
  td.append(el("div", t(status)));
  if (detail) td.append(el("div", detail, "muted"));
  row.append(td);
}

function parkRow(p) {
  const tr = el("tr");
  tr.dataset.park = p.park;
  cityCell(tr, "rank", p.rank, "");
  const name = el("td");
  name.dataset.k = "park";
  name.append(el("div", p.name), el("div", p.park, "muted"));
  tr.append(name);
  const share = p.clean_energy_share;
  const shareCell = cityCell(tr, "share", share.value_pct, "%");
  shareCell.title = share.column || "";
  const marks = el("td");
  marks.dataset.k = "milestones";
  for (const [year, target] of Object.entries(share.milestones_pct)) {
    const met = share.met_pct[year];
    const mark = met === undefined ? "–" : met ? "✓" : "✗";
    marks.append(el("span", `${year} ${fmt(target, "%")} ${mark}`, met === false ? "not-met milestone" : "milestone"));
  }
  tr.append(marks);
  const c = p.co2_per_energy;
  const carbon = cityCell(tr, "co2_per_tce", c.value_t_per_tce, "t/tce", c.met === false ? "not-met" : "");
  if (c.target_t_per_tce !== null) carbon.append(el("div", `${t("target")} ≤ ${fmt(c.target_t_per_tce, "")}`, "muted"));
  carbon.title = c.column || "";
  cityCell(tr, "energy_tce", p.energy_tce, "tce");
  cityCell(tr, "co2_location_t", p.co2_location_t, "t");
  cityCell(tr, "co2_market_t", p.co2_market_t, "t");
  cityCell(tr, "energy_tce_per_10k_cny", p.energy_tce_per_10k_cny, "tce/万元");
  cityCell(tr, "co2_location_t_per_10k_cny", p.co2_location_t_per_10k_cny, "t/万元");
  const q = p.quota;
  statusCell(tr, "quota", q.status, q.computed ? t("quotaDetail", {
    breached: q.breached, ahead: q.forecast_breach, n: q.enterprises ?? "–", computed: q.computed,
    max: fmt(q.max_forecast_pct, "%"),
  }) : "");
  const b = p.carbon_budget;
  statusCell(tr, "budget", b.status, b.used_co2_t !== null ? t("budgetDetail", {
    used: fmt(b.used_co2_t, ""), budget: fmt(b.budget_co2_t, ""), pct: fmt(b.used_pct, "%"),
  }) : "");
  const done = cityCell(tr, "completeness", p.completeness.mean_pct, "%");
  done.append(el("div", t("sensorDays", { n: p.completeness.sensor_days }), "muted"));
  if (!p.stored) tr.classList.add("unstored");
  return tr;
}

function totalRow(totals) {
  const tr = el("tr", null, "total");
  tr.dataset.park = "_city";
  const label = el("td", t("cityTotal"));
  label.colSpan = 5;
  tr.append(label);
  cityCell(tr, "energy_tce", totals.energy_tce, "tce");
  cityCell(tr, "co2_location_t", totals.co2_location_t, "t");
  cityCell(tr, "co2_market_t", totals.co2_market_t, "t");
  tr.append(el("td", "–"), el("td", "–"));
  const quota = el("td", t("totalQuota", { breached: totals.quota_breached, ahead: totals.quota_forecast_breach }));
  quota.dataset.k = "quota";
  const budget = el("td", t("totalBudget", { breached: totals.budgets_breached, ahead: totals.budgets_forecast_breach }));
  budget.dataset.k = "budget";
  tr.append(quota, budget);
  cityCell(tr, "completeness", totals.completeness.mean_pct, "%");
  return tr;
}

async function startCity(who) {
  state.who = who;
  $("signin").hidden = true;
  $("dash").hidden = true;
  $("signout").hidden = false;
  $("who").textContent = who.name;
  const box = $("city");
  box.dataset.ready = "0";
  box.hidden = false;
  $("error").hidden = true;
  try {
    const card = await api(`/v1/cities/${encodeURIComponent(who.park)}/scorecard`);
    $("city-name").textContent = t("cityTitle", { city: card.city });
    const head = $("city-table").querySelector("thead tr");
    head.replaceChildren(...CITY_COLUMNS.map((k) => el("th", t(k))));
    const body = $("city-table").querySelector("tbody");
    body.replaceChildren(...card.parks.map(parkRow), totalRow(card.totals));
    const variants = [...new Set(card.parks.map((p) => p.clean_energy_share.column).filter(Boolean))];
    $("city-note").textContent = t("cityNote", { variants: variants.join(", ") || "–" });
  } catch (err) {
    showError(err);
  }
  box.dataset.ready = "1";
}
