"""The search page served at ``/``: one self-contained HTML document (inline CSS and JS, no external
assets, no build step), so it works offline and behind any proxy with nothing else to deploy.

It calls ``/api/search`` and shows each hit as an app would: reference, text, and why it matched
(which retriever ranked it where). Text from the API is inserted with ``textContent`` only, never
as HTML, so a verse or query cannot inject markup. The query is kept in the address (``?q=``), so
a search can be bookmarked, shared and gone back to.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>VerseBERT search</title>
<style>
  :root { --ink: #1f2430; --muted: #5f6b7a; --line: #dde3ea; --accent: #3552a3; --paper: #f7f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--ink); background: var(--paper); }
  main { max-width: 46rem; margin: 0 auto; padding: 2rem 1rem 4rem; }
  h1 { font-size: 1.6rem; margin: 0 0 .2rem; letter-spacing: -.01em; }
  h1 span { color: var(--accent); }
  .tagline { color: var(--muted); margin: 0 0 1.2rem; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; }
  input[type=search] { flex: 1 1 18rem; font: inherit; padding: .6rem .8rem; border: 1px solid #b9c3d0;
                       border-radius: .5rem; background: #fff; }
  input[type=search]:focus, select:focus, button:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
  select, button { font: inherit; padding: .6rem .8rem; border-radius: .5rem; border: 1px solid #b9c3d0;
                   background: #fff; }
  button { background: var(--accent); border-color: var(--accent); color: #fff; cursor: pointer; }
  button:disabled { opacity: .6; cursor: progress; }
  #status { color: var(--muted); font-size: .9rem; min-height: 1.5rem; margin: .8rem 0 .4rem; }
  #error { display: none; background: #fdecec; border: 1px solid #f3b6b6; color: #8a1c1c;
           padding: .6rem .8rem; border-radius: .5rem; margin: .8rem 0; }
  ol { list-style: none; padding: 0; margin: 0; }
  li.hit { background: #fff; border: 1px solid var(--line); border-radius: .6rem; padding: .8rem 1rem;
           margin: 0 0 .6rem; }
  .head { display: flex; align-items: baseline; gap: .5rem; flex-wrap: wrap; }
  .ref { font-weight: 650; color: var(--accent); }
  .tr { font-size: .75rem; color: var(--muted); border: 1px solid var(--line); border-radius: 1rem;
        padding: 0 .45rem; }
  .score { margin-left: auto; font-size: .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
  .text { margin: .3rem 0 .5rem; font-family: Georgia, "Times New Roman", serif; font-size: 1.05rem; }
  .why { display: flex; gap: .35rem; flex-wrap: wrap; font-size: .75rem; }
  .why span { background: #eef2fa; color: #2c3f73; border-radius: .3rem; padding: .05rem .4rem; }
  .why .reference { background: #e9f6ee; color: #1d5b33; }
  .why .dense { background: #f4eefa; color: #55307a; }
  footer { margin-top: 2rem; font-size: .8rem; color: var(--muted); }
  footer a { color: inherit; }
</style>
</head>
<body>
<main>
  <h1>Verse<span>BERT</span> search</h1>
  <p class="tagline">Search the Bible by meaning or words (&ldquo;give you a new heart&rdquo;) or by reference
    (&ldquo;1 Cor 13:4-7&rdquo;).</p>
  <form id="search" role="search">
    <input id="q" name="q" type="search" placeholder="What are you looking for?" aria-label="Search"
           maxlength="1000" autofocus>
    <select id="translation" name="translation" aria-label="Translation shown"></select>
    <button id="go" type="submit">Search</button>
  </form>
  <div id="error" role="alert"></div>
  <div id="status" aria-live="polite"></div>
  <ol id="results"></ol>
  <footer>Scores are Reciprocal Rank Fusion of the retrievers below each verse;
    <a href="/openapi.json">API description</a> &middot; <a href="/healthz">status</a></footer>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const LABELS = { bm25: "words", dense: "meaning", reference: "reference" };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function why(match) {
  const where = match.translation ? " " + match.translation : "";
  const score = match.score === null ? "" : " (" + Number(match.score).toPrecision(3) + ")";
  const chip = el("span", match.retriever, (LABELS[match.retriever] || match.retriever) + where
                  + " #" + match.rank + score);
  chip.title = match.retriever + " ranked this verse #" + match.rank;
  return chip;
}

function showHits(answer, elapsed) {
  const list = $("results");
  list.replaceChildren();
  for (const hit of answer.hits) {
    const item = el("li", "hit");
    item.dataset.verseId = hit.verse_id;
    const head = el("div", "head");
    head.append(el("span", "ref", hit.reference), el("span", "tr", hit.translation),
                el("span", "score", hit.score === null ? "named" : "score " + hit.score.toFixed(4)));
    const reasons = el("div", "why");
    reasons.append(...hit.matches.map(why));
    item.append(head, el("p", "text", hit.text), reasons);
    list.append(item);
  }
  const count = answer.hits.length;
  $("status").textContent = count ? count + (count === 1 ? " verse" : " verses") + " · "
    + answer.retrievers.join(" + ") + " · " + Math.round(elapsed) + " ms" : "No verses matched.";
}

function showError(message) {
  $("error").textContent = message;
  $("error").style.display = message ? "block" : "none";
}

async function search(query, translation, remember) {
  showError("");
  if (!query.trim()) { $("results").replaceChildren(); $("status").textContent = ""; return; }
  const params = new URLSearchParams({ q: query, k: "10" });
  if (translation) params.set("translation", translation);
  if (remember) history.pushState(null, "", "?" + params);
  $("go").disabled = true;
  $("status").textContent = "Searching…";
  const started = performance.now();
  try {
    const response = await fetch("/api/search?" + params);
    const answer = await response.json();
    if (!response.ok) { $("results").replaceChildren(); $("status").textContent = "";
                        showError(answer.error || "search failed"); return; }
    showHits(answer, performance.now() - started);
  } catch (problem) {
    $("status").textContent = "";
    showError("The server could not be reached: " + problem.message);
  } finally {
    $("go").disabled = false;
  }
}

function fromAddress() {
  const params = new URLSearchParams(location.search);
  $("q").value = params.get("q") || "";
  if (params.get("translation")) $("translation").value = params.get("translation").toUpperCase();
  search($("q").value, params.get("translation"), false);
}

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  search($("q").value, $("translation").value, true);
});
window.addEventListener("popstate", fromAddress);

fetch("/healthz").then((response) => response.json()).then((health) => {
  const shown = [health.display, ...health.translations.filter((code) => code !== health.display)];
  for (const code of shown) $("translation").append(el("option", "", code));
  fromAddress();
}).catch(() => showError("The server could not be reached."));
</script>
</body>
</html>
"""
