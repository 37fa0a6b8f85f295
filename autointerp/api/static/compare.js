// Two (or more) checkpoints compared by their explanations: the summary against the
// baseline, then every latent of A next to its one-to-one match in B (and B's best match,
// and the decoder match when both read the same space).
import { api, el, fmt, latentHref, message, query, short, stale, show } from "./util.js";

export async function render(root, route) {
  const chosen = route.params.getAll("c");
  if (chosen.length < 2) {
    show(root, el("h1", {}, "Compare checkpoints"), await picker(route, chosen));
    return;
  }
  show(root, el("h1", {}, "Compare checkpoints"), message("Embedding the explanations and matching latents…"));
  const result = await api(`/compare${query({ checkpoints: chosen, pairs: true })}`);
  if (stale(route.seq)) return;
  const [a, b] = [result.checkpoints[0], result.checkpoints[1]];
  const pair = result.pairs[0];
  const minSim = el("input", { id: "min-sim", type: "number", step: "0.05", min: "-1", max: "1", placeholder: "any", style: { width: "6rem" } });
  const textFilter = el("input", { id: "pair-text", type: "search", placeholder: "text in either explanation", size: 26 });
  const table = el("div", { id: "pair-table" });
  // A's rows against B (A against itself gives both directions: keep one row per latent)
  const seen = new Set();
  const rows = result.latent_pairs.filter((r) => {
    if (r.checkpoint !== a.checkpoint || r.other_checkpoint !== b.checkpoint || seen.has(r.latent)) return false;
    seen.add(r.latent);
    return true;
  });
  rows.sort((x, y) => (y.matched_similarity ?? -2) - (x.matched_similarity ?? -2));
  const redraw = () => {
    const min = minSim.value === "" ? -Infinity : Number(minSim.value);
    const text = textFilter.value.trim().toLowerCase();
    const kept = rows.filter((r) => (r.matched_similarity ?? -Infinity) >= min
      && (!text || `${r.explanation} ${r.matched_explanation || ""}`.toLowerCase().includes(text)));
    show(table, el("p", { class: "muted", id: "pair-count", "data-count": kept.length }, `${kept.length} of ${rows.length} latents of A`), pairTable(kept, a, b, pair?.share_close?.threshold ?? 0.7));
  };
  minSim.addEventListener("input", redraw);
  textFilter.addEventListener("input", redraw);
  show(root, 
    el("h1", {}, "Compare checkpoints"),
    el("div", { class: "side" }, side("A", a), side("B", b)),
    summary(pair, result.embedder),
    result.checkpoints.length > 2 ? matrix(result.matrix) : null,
    el("h2", {}, "Matched latents (one-to-one)"),
    el("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, el("label", {}, "Min similarity", minSim), el("label", {}, "Search", textFilter)),
    table,
  );
  redraw();
}

async function picker(route, chosen) {
  const data = await api("/checkpoints");
  if (stale(route.seq)) return el("div");
  const select = (name, value) => el("select", { name }, data.items.map((c) => el("option", { value: c.checkpoint, selected: c.checkpoint === value }, `${short(c.checkpoint)} · ${c.hook_name || ""} · ${c.n_latents} latents`)));
  if (data.items.length < 1) return message("No checkpoints with explanations in this store yet.");
  const form = el(
    "form",
    { class: "filters", id: "compare-form" },
    el("label", {}, "A", select("a", chosen[0] || data.items[0].checkpoint)),
    el("label", {}, "B", select("b", chosen[1] || (data.items[1] || data.items[0]).checkpoint)),
    el("button", { class: "primary", type: "submit" }, "Compare"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(form);
    location.hash = `#/compare${query({ c: [f.get("a"), f.get("b")] })}`;
  });
  return el("div", {}, el("p", { class: "muted" }, "Pick two checkpoints (the same one twice compares it with itself)."), form);
}

function side(label, c) {
  return el(
    "div",
    { class: "card", "data-side": label },
    el("div", { class: "label" }, label),
    el("div", { class: "mono" }, c.checkpoint),
    el("div", { class: "muted" }, `${c.model || ""} · ${c.hook_name || ""} · ${c.n_latents} latents explained`),
    el("div", { class: "muted" }, c.sae_path || ""),
  );
}

function summary(pair, embedder) {
  if (!pair) return null;
  const card = (label, value, id) => el("div", { class: "card", id }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  const dec = pair.decoders || {};
  return el(
    "div",
    {},
    el("div", { class: "cards", id: "summary" },
      card("mean matched similarity", fmt(pair.matched?.mean), "matched-mean"),
      card("baseline (shuffled)", fmt(pair.baseline?.mean), "baseline-mean"),
      card("lift over baseline", fmt(pair.lift), "lift"),
      card("KS test p", fmt(pair.ks?.pvalue), "ks"),
      card(`close counterpart (≥ ${fmt(pair.share_close?.threshold, 2)}), A→B`, fmt(pair.share_close?.a_to_b), "share-close"),
      card("decoders: matched cosine", dec.status === "ok" ? fmt(dec.matched_cosine?.mean) : "–", "decoder-cosine"),
      card("decoder / text matchings agree", dec.status === "ok" ? fmt(dec.agreement) : "–", "agreement"),
    ),
    el("p", { class: "muted" }, `Embedder: ${embedder}; matching: ${pair.matching}. ${dec.status && dec.status !== "ok" ? `Decoders: ${dec.reason || dec.status}.` : ""}`),
  );
}

function matrix(m) {
  const head = el("tr", {}, el("th", {}, ""), m.labels.map((l) => el("th", {}, l)));
  const rows = m.mean_matched.map((row, i) => el("tr", {}, el("th", {}, m.labels[i]), row.map((v) => el("td", { class: "num" }, fmt(v)))));
  return el("div", {}, el("h2", {}, "Mean matched similarity, every pair"), el("table", { id: "matrix" }, el("thead", {}, head), el("tbody", {}, rows)));
}

function pairTable(rows, a, b, threshold) {
  const head = el(
    "tr",
    {},
    el("th", { class: "num" }, "A latent"),
    el("th", {}, "A explanation"),
    el("th", { class: "num" }, "similarity"),
    el("th", { class: "num" }, "B latent"),
    el("th", {}, "B explanation (matched)"),
    el("th", {}, "B best match"),
    el("th", { class: "num" }, "decoder match (cos)"),
  );
  const body = rows.map((r) =>
    el(
      "tr",
      { class: `pair${(r.matched_similarity ?? -2) >= threshold ? " close" : ""}`, "data-latent": r.latent, "data-matched": r.matched_latent ?? "" },
      el("td", { class: "num" }, el("a", { href: latentHref(a.checkpoint, r.latent) }, r.latent)),
      el("td", { class: "expl" }, r.explanation),
      el("td", { class: "num sim" }, fmt(r.matched_similarity)),
      el("td", { class: "num" }, r.matched_latent === null ? "–" : el("a", { href: latentHref(b.checkpoint, r.matched_latent) }, r.matched_latent)),
      el("td", { class: "expl" }, r.matched_explanation ?? el("span", { class: "muted" }, "(no partner)")),
      el("td", { class: "expl muted" }, r.best_latent === r.matched_latent ? "same" : `${r.best_latent}: ${r.best_explanation ?? ""} (${fmt(r.best_similarity)})`),
      el("td", { class: "num" }, r.decoder_latent === null ? "–" : `${r.decoder_latent} (${fmt(r.decoder_cosine)})`),
    ),
  );
  return el("table", { id: "pairs" }, el("thead", {}, head), el("tbody", {}, body));
}
