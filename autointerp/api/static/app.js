// The router: each hash route is one view module exporting render(root, route) and,
// optionally, update(route) to refresh in place when only the query string changed
// (the latent browser's filters keep focus that way).
import * as checkpoints from "./checkpoints.js";
import * as compare from "./compare.js";
import * as latent from "./latent.js";
import * as latents from "./latents.js";
import { ApiError, errorBox, nextRoute, parseHash, stale } from "./util.js";

const VIEWS = { "": checkpoints, checkpoints, latents, latent, compare };

let current = null; // {name, view}

async function route() {
  const parsed = parseHash(location.hash);
  parsed.seq = nextRoute();
  const name = parsed.path[0] || "";
  const view = VIEWS[name];
  const root = document.getElementById("view");
  document.querySelectorAll("nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.nav === (name || "checkpoints"));
  });
  document.body.dataset.view = name || "checkpoints";
  document.body.dataset.state = "loading";
  try {
    if (!view) {
      root.replaceChildren(errorBox(`no such page: ${location.hash}`));
    } else if (current && current.name === name && view.update && view.sameRoute?.(parsed)) {
      await view.update(parsed);
    } else {
      current = { name, view };
      await view.render(root, parsed);
    }
  } catch (err) {
    if (!(err instanceof ApiError)) console.error(err); // API errors are shown, not logged
    if (!stale(parsed.seq)) root.replaceChildren(errorBox(err));
  }
  // tests wait for this: the newest navigation has drawn its data
  if (!stale(parsed.seq)) document.body.dataset.state = "ready";
}

window.addEventListener("hashchange", route);
route();
