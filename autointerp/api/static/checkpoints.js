// Checkpoints with their score summaries; tick two or more to compare them.
import { api, date, el, fmt, message, short, stale, show } from "./util.js";

export async function render(root, route) {
  const data = await api("/checkpoints");
  if (stale(route.seq)) return;
  if (!data.items.length) {
    show(root, 
      el("h1", {}, "Checkpoints"),
      message("No results in this store yet: run `autointerp run` or submit a job."),
    );
    return;
  }
  const scorers = [...new Set(data.items.flatMap((c) => Object.keys(c.mean_scores || {})))].sort();
  const picked = new Set();
  const compareButton = el("button", { id: "compare-selected", class: "primary", disabled: true }, "Compare selected");
  compareButton.addEventListener("click", () => {
    location.hash = `#/compare?${[...picked].map((c) => `c=${encodeURIComponent(c)}`).join("&")}`;
  });
  const onPick = (event) => {
    const box = event.target;
    if (box.checked) picked.add(box.value);
    else picked.delete(box.value);
    compareButton.disabled = picked.size < 2;
  };

  const head = el(
    "tr",
    {},
    el("th", {}, ""),
    el("th", {}, "Checkpoint"),
    el("th", {}, "Model / hook"),
    el("th", { class: "num" }, "Runs"),
    el("th", { class: "num" }, "Latents"),
    el("th", { class: "num" }, "Scores"),
    scorers.map((s) => el("th", { class: "num", title: `mean ${s} score (primary metric)` }, `${s} (mean)`)),
    el("th", {}, "Latest run"),
  );
  const rows = data.items.map((c) =>
    el(
      "tr",
      { "data-checkpoint": c.checkpoint },
      el("td", {}, el("input", { type: "checkbox", class: "compare-pick", value: c.checkpoint, title: "compare", onchange: onPick })),
      el(
        "td",
        {},
        el("a", { href: `#/latents?checkpoint=${encodeURIComponent(c.checkpoint)}`, class: "mono" }, c.checkpoint),
        el("div", { class: "muted" }, c.sae_path || ""),
      ),
      el("td", {}, el("div", {}, c.model), el("div", { class: "muted mono" }, c.hook_name)),
      el("td", { class: "num" }, fmt(c.n_runs)),
      el("td", { class: "num" }, fmt(c.n_latents)),
      el("td", { class: "num" }, fmt(c.n_scores)),
      scorers.map((s) => el("td", { class: "num", "data-scorer": s }, fmt((c.mean_scores || {})[s]))),
      el("td", {}, el("span", { class: "mono" }, short(c.latest_run_id)), " ", el("span", { class: "muted" }, date(c.latest_created_at))),
    ),
  );
  show(root, 
    el("h1", {}, "Checkpoints"),
    el("p", { class: "muted" }, `${data.total} checkpoint${data.total === 1 ? "" : "s"} with results. Scores are each scorer's primary metric (AUROC unless the scorer says otherwise), averaged over the latents scored.`),
    el("table", { id: "checkpoints" }, el("thead", {}, head), el("tbody", {}, rows)),
    el("div", { class: "pager" }, compareButton, el("span", { class: "muted" }, "tick two or more checkpoints")),
  );
}
