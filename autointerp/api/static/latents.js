// The latent browser: filter by checkpoint, scorer, minimum score and explanation text;
// sort by score or latent; 50 a page. The filters live in the hash, so a view can be
// bookmarked and the back button works.
import { api, date, debounce, el, fmt, latentHref, message, query, scorers, short, stale, show } from "./util.js";

const LIMIT = 50;
const SORTS = [
  ["score", "score"],
  ["latent", "latent"],
  ["key", "run, latent"],
  ["created_at", "newest run"],
];

let form = null;
let results = null;

function paramsOf(route) {
  const p = route.params;
  return {
    checkpoint: p.get("checkpoint") || "",
    q: p.get("q") || "",
    scorer: p.get("scorer") || "",
    min_score: p.get("min_score") || "",
    sort: p.get("sort") || "score",
    order: p.get("order") || "desc",
    offset: Math.max(0, parseInt(p.get("offset") || "0", 10) || 0),
  };
}

function go(params) {
  const keep = { ...params };
  if (!keep.offset) delete keep.offset;
  location.hash = `#/latents${query(keep)}`;
}

function readForm() {
  const data = new FormData(form);
  return Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()]));
}

export function sameRoute() {
  return form !== null && document.body.contains(form);
}

export async function render(root, route) {
  const [ckpts, scorerList] = await Promise.all([api("/checkpoints"), scorers()]);
  if (stale(route.seq)) return;
  const params = paramsOf(route);
  const select = (name, options, value) =>
    el("select", { name }, options.map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
  const used = new Set(ckpts.items.flatMap((c) => Object.keys(c.mean_scores || {})));
  const scorerOptions = scorerList.items.filter((s) => used.has(s.scorer)).map((s) => [s.scorer, `${s.scorer} (${s.primary_metric})`]);
  form = el(
    "form",
    { class: "filters", id: "filters", onsubmit: (e) => e.preventDefault() },
    el("label", {}, "Checkpoint", select("checkpoint", [["", "all"], ...ckpts.items.map((c) => [c.checkpoint, `${short(c.checkpoint)} ${c.hook_name || ""}`])], params.checkpoint)),
    el("label", {}, "Explanation contains", el("input", { name: "q", type: "search", value: params.q, placeholder: "text…", size: 24 })),
    el("label", {}, "Scorer", select("scorer", [["", "any (best score)"], ...scorerOptions], params.scorer)),
    el("label", {}, "Min score", el("input", { name: "min_score", type: "number", step: "0.05", value: params.min_score, style: { width: "6rem" } })),
    el("label", {}, "Sort by", select("sort", SORTS, params.sort)),
    el("label", {}, "Order", select("order", [["desc", "descending"], ["asc", "ascending"]], params.order)),
  );
  const apply = () => go({ ...readForm(), offset: 0 });
  form.addEventListener("change", apply);
  form.addEventListener("input", debounce((e) => { if (e.target.name === "q" || e.target.name === "min_score") apply(); }, 300));
  results = el("div", { id: "results" });
  show(root, el("h1", {}, "Latents"), form, results);
  await fill(route);
}

export async function update(route) {
  const params = paramsOf(route);
  for (const [name, value] of Object.entries(params)) {
    const field = form.elements.namedItem(name);
    if (field && field.value !== String(value) && document.activeElement !== field) field.value = value;
  }
  await fill(route);
}

async function fill(route) {
  const params = paramsOf(route);
  let page;
  try {
    page = await api(`/latents${query({ ...params, limit: LIMIT })}`);
  } catch (err) {
    if (!stale(route.seq)) show(results, el("p", { class: "error", role: "alert" }, err.message));
    return;
  }
  if (stale(route.seq)) return;
  const scorerNames = [...new Set(page.items.flatMap((i) => Object.keys(i.scores || {})))].sort();
  const head = el(
    "tr",
    {},
    el("th", {}, "Checkpoint"),
    el("th", { class: "num" }, "Latent"),
    el("th", {}, "Explanation"),
    scorerNames.map((s) => el("th", { class: "num" }, s)),
    el("th", { class: "num" }, params.scorer ? `${params.scorer} score` : "best score"),
    el("th", {}, "Run"),
  );
  const rows = page.items.map((item) => {
    const scores = item.scores || {};
    return el(
      "tr",
      { "data-latent": item.latent, "data-checkpoint": item.sae_sha256, "data-score": item.score ?? "" },
      el("td", { class: "mono" }, short(item.sae_sha256)),
      el("td", { class: "num" }, el("a", { href: latentHref(item.sae_sha256, item.latent, item.run_id) }, item.latent)),
      el("td", { class: "expl" }, item.explanation || el("span", { class: "muted" }, `(${item.status})`)),
      scorerNames.map((s) => el("td", { class: "num", "data-scorer": s }, fmt(scores[s]))),
      el("td", { class: "num score" }, fmt(item.score), scoreBar(item.score)),
      el("td", { class: "muted nowrap" }, el("span", { class: "mono" }, short(item.run_id)), " ", date(item.created_at)),
    );
  });
  const last = Math.min(page.offset + page.items.length, page.total);
  const prev = el("button", { id: "prev", disabled: page.offset === 0, onclick: () => go({ ...params, offset: Math.max(0, page.offset - LIMIT) }) }, "← previous");
  const next = el("button", { id: "next", disabled: last >= page.total, onclick: () => go({ ...params, offset: page.offset + LIMIT }) }, "next →");
  show(results, 
    el("p", { class: "muted", id: "total", "data-total": page.total }, page.total ? `${page.offset + 1}–${last} of ${page.total} explained latents` : "No latent matches these filters."),
    page.items.length ? el("table", { id: "latents" }, el("thead", {}, head), el("tbody", {}, rows)) : message(""),
    el("div", { class: "pager" }, prev, next),
  );
}

function scoreBar(score) {
  if (typeof score !== "number" || Number.isNaN(score)) return null;
  const width = Math.max(0, Math.min(1, score)) * 4;
  return el("span", { class: "bar", style: { width: `${width}rem` } });
}
