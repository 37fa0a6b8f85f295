// Helpers shared by the views: DOM building (text only: nothing from the store is ever
// parsed as HTML), JSON requests to the API, number formatting and hash-route parameters.

/** el("td", {class: "num"}, "0.81", child, ...) -> an element; strings become text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class ApiError extends Error {}

/** GET an API path ("/latents?..."): the parsed JSON, or an ApiError with the server's detail. */
export async function api(path) {
  let response;
  try {
    response = await fetch(`..${path}`, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(`the API did not answer (${err.message})`);
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    let detail = body && body.detail !== undefined ? body.detail : text;
    if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    throw new ApiError(`${response.status}: ${detail}`);
  }
  return body;
}

let scorerList = null;

/** GET /scorers once per page load (the registry does not change while the server runs). */
export function scorers() {
  scorerList = scorerList || api("/scorers").catch((err) => { scorerList = null; throw err; });
  return scorerList;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
  }
  const s = search.toString();
  return s ? `?${s}` : "";
}

export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en");
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return x.toFixed(digits);
}

export function short(sha) {
  return sha ? String(sha).slice(0, 8) : "";
}

export function date(x) {
  if (!x) return "";
  const d = new Date(x);
  return Number.isNaN(d.getTime()) ? String(x) : d.toISOString().slice(0, 16).replace("T", " ");
}

/** A score with its CI: "0.812 [0.70, 0.90]". */
export function withCi(value, low, high) {
  const main = el("span", { class: "value" }, fmt(value));
  if (low === null || low === undefined || high === null || high === undefined) return main;
  return el("span", {}, main, " ", el("span", { class: "ci" }, `[${fmt(low, 2)}, ${fmt(high, 2)}]`));
}

export function message(text, cls = "muted") {
  return el("p", { class: cls }, text);
}

export function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err instanceof ApiError ? err.message : String(err));
}

/** "#/latents?x=1" -> {path: ["latents"], params: URLSearchParams}. */
export function parseHash(hash) {
  const raw = (hash || "").replace(/^#/, "");
  const [pathPart, search = ""] = raw.split("?");
  const path = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  return { path, params: new URLSearchParams(search) };
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function latentHref(checkpoint, latent, runId) {
  const base = `#/latent/${encodeURIComponent(checkpoint)}/${latent}`;
  return runId ? `${base}?run_id=${encodeURIComponent(runId)}` : base;
}

let routeSeq = 0;

/** A number for each navigation; a view drops a reply when a newer navigation started. */
export function nextRoute() {
  routeSeq += 1;
  return routeSeq;
}

export function stale(seq) {
  return seq !== routeSeq;
}

/** Replace root's content with the children given, skipping null/false ones. */
export function show(root, ...children) {
  root.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
