// One latent: its statistics, explanation(s), every score with its CI, and its examples
// with each token's background set by its activation (relative to the latent's maximum).
import { api, date, el, fmt, latentHref, scorers, short, stale, withCi, show } from "./util.js";

const ACTIVATING = ["explain", "score"];
const ROLE_NAMES = {
  explain: "shown to the explainer",
  score: "held out for scoring",
  nonactivating: "random windows",
  hard_neighbour: "hard negatives: decoder neighbours fire",
  hard_similar: "hard negatives: similar text",
};
const METRICS = ["auroc", "balanced_accuracy", "precision", "recall", "f1", "accuracy", "correlation", "mean_delta"];

export async function render(root, route) {
  const [checkpoint, latentText] = route.path.slice(1);
  const latent = Number.parseInt(latentText, 10);
  if (!checkpoint || Number.isNaN(latent)) throw new Error(`expected #/latent/<checkpoint>/<latent>, got ${location.hash}`);
  const runId = route.params.get("run_id");
  const [detail, scorerList] = await Promise.all([
    api(`/checkpoints/${encodeURIComponent(checkpoint)}/latents/${latent}${runId ? `?run_id=${encodeURIComponent(runId)}` : ""}`),
    scorers(),
  ]);
  if (stale(route.seq)) return;
  const primary = Object.fromEntries(scorerList.items.map((s) => [s.scorer, s.primary_metric]));
  const runs = [...new Set([...detail.explanations, ...detail.examples].map((r) => r.run_id))];
  show(root, 
    el("p", {}, el("a", { href: `#/latents?checkpoint=${encodeURIComponent(detail.checkpoint)}` }, "← latents of this checkpoint")),
    el("h1", { id: "latent-title" }, `Latent ${detail.latent} `, el("span", { class: "muted mono" }, `of ${detail.checkpoint}`)),
    runs.length > 1 && !runId ? runPicker(detail, runs) : null,
    stats(detail.stats),
    el("h2", {}, "Explanations"),
    explanations(detail.explanations),
    el("h2", {}, "Scores"),
    scoreTable(detail.scores, primary),
    el("h2", {}, "Examples"),
    examples(detail.examples, detail.stats),
  );
}

function runPicker(detail, runs) {
  return el(
    "p",
    { class: "muted" },
    `${runs.length} runs stored; only one: `,
    runs.map((r) => [el("a", { href: latentHref(detail.checkpoint, detail.latent, r), class: "mono" }, short(r)), " "]),
  );
}

function stats(s) {
  if (!s) return null;
  const card = (label, value) => el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  return el(
    "div",
    { class: "cards", id: "stats" },
    card("density", fmt(s.density, 5)),
    card("fired on tokens", fmt(s.fire_count)),
    card("max activation", fmt(s.max_act)),
    card("mean activation", fmt(s.mean_act)),
    card("sampling", s.sample_status || "–"),
    card("tokens seen", fmt(s.n_tokens)),
  );
}

function explanations(rows) {
  if (!rows.length) return el("p", { class: "muted" }, "No explanation stored.");
  return el(
    "div",
    { id: "explanations" },
    rows.map((e) =>
      el(
        "div",
        { class: "explanation", "data-status": e.status, "data-run": e.run_id },
        e.status === "ok" ? e.explanation : el("span", { class: "error" }, `${e.status}: ${e.error || ""}`),
        el("div", { class: "meta" }, `#${e.explanation_id} · ${e.source || ""} · ${e.llm || ""} · run `, el("span", { class: "mono" }, short(e.run_id)), ` · ${date(e.created_at)}`),
      ),
    ),
  );
}

function scoreTable(rows, primary) {
  if (!rows.length) return el("p", { class: "muted" }, "Not scored.");
  const shown = METRICS.filter((m) => rows.some((r) => r[m] !== null && r[m] !== undefined));
  const head = el(
    "tr",
    {},
    el("th", {}, "Scorer"),
    el("th", { class: "num" }, "Expl."),
    el("th", {}, "Score (primary metric, 95 % CI)"),
    shown.map((m) => el("th", {}, m)),
    el("th", { class: "num" }, "pos / neg"),
    el("th", {}, "Status"),
    el("th", {}, "Run"),
  );
  const body = rows.map((r) => {
    const metric = primary[r.scorer] || "auroc";
    return el(
      "tr",
      { "data-scorer": r.scorer, "data-status": r.status },
      el("td", {}, r.scorer),
      el("td", { class: "num" }, `#${r.explanation_id}`),
      el("td", { class: "primary", title: metric }, withCi(r.score, r[`${metric}_ci_low`], r[`${metric}_ci_high`]), " ", el("span", { class: "muted" }, metric)),
      shown.map((m) => el("td", { "data-metric": m }, withCi(r[m], r[`${m}_ci_low`], r[`${m}_ci_high`]))),
      el("td", { class: "num" }, `${fmt(r.n_pos)} / ${fmt(r.n_neg)}`),
      el("td", {}, r.status === "ok" ? "ok" : el("span", { class: "error", title: r.error || "" }, r.status)),
      el("td", { class: "mono muted" }, short(r.run_id)),
    );
  });
  return el("table", { id: "scores" }, el("thead", {}, head), el("tbody", {}, body));
}

function examples(rows, stat) {
  if (!rows.length) return el("p", { class: "muted" }, "No examples stored.");
  // one colour scale for the whole page: the latent's largest activation
  let top = stat && stat.max_act > 0 ? stat.max_act : 0;
  for (const r of rows) for (const a of r.acts || []) top = Math.max(top, Math.abs(a));
  const group = (id, title, roles) => {
    const chosen = rows.filter((r) => roles(r.role));
    if (!chosen.length) return null;
    const byRole = [...new Set(chosen.map((r) => r.role))];
    return el(
      "section",
      { id, "data-count": chosen.length },
      el("h3", {}, `${title} (${chosen.length})`),
      byRole.map((role) => [
        el("div", { class: "muted" }, ROLE_NAMES[role] || role),
        el("div", { class: "examples" }, chosen.filter((r) => r.role === role).map((r) => example(r, top))),
      ]),
    );
  };
  return el(
    "div",
    {},
    el("div", { class: "legend" }, "activation 0", el("span", { class: "ramp" }), `${fmt(top)} (the latent's maximum)`),
    group("activating", "Activating", (role) => ACTIVATING.includes(role)),
    group("nonactivating", "Non-activating", (role) => !ACTIVATING.includes(role)),
  );
}

function example(row, top) {
  const acts = row.acts || [];
  const tokens = row.tokens || [];
  let argmax = -1;
  acts.forEach((a, i) => { if (a > 0 && (argmax < 0 || a > acts[argmax])) argmax = i; });
  const spans = tokens.map((tok, i) => {
    const act = acts[i] || 0;
    const alpha = top > 0 ? Math.min(1, Math.abs(act) / top) : 0;
    const isNewline = tok.includes("\n");
    return el(
      "span",
      {
        class: `tok${isNewline ? " nl" : ""}${i === argmax ? " max" : ""}`,
        "data-act": act,
        title: `${JSON.stringify(tok)}: ${fmt(act)}`,
        style: act ? { backgroundColor: `rgba(var(--hl), ${alpha.toFixed(3)})` } : null,
      },
      isNewline ? tok.replace(/\r?\n/g, "↵") : tok,
    );
  });
  const meta = el("span", { class: "meta" }, row.quantile ? `q${row.quantile} · max ${fmt(row.max_act, 2)}` : `max ${fmt(row.max_act, 2)}`);
  return el("div", { class: "example", "data-role": row.role, "data-window": row.window, "data-max-act": row.max_act }, meta, spans);
}
