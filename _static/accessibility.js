// Accessibility fixes to the theme's markup, checked by tests/book/test_accessibility.py (axe-core).
// 1. A control's accessible name must contain its visible text (WCAG 2.5.3, axe label-content-name-mismatch):
//    the search button shows "Search Ctrl+K", the code toggles show "Show code cell source", but their
//    aria-labels said "Search" / "Toggle hidden content". The visible text now leads the name. Icons inside a
//    labelled control (Font Awesome SVGs with titles such as "Light") are decorative: hidden from the name.
// 2. sphinxcontrib-bibtex marks the reference list role="list" around doc-biblioentry items
//    (aria-required-children): the list role is dropped, the entries keep theirs.
(() => {
  const squash = (s) => (s || "").replace(/\s+/g, " ").trim();
  const fix = () => {
    document.querySelectorAll("[aria-label] svg").forEach((svg) => {
      svg.setAttribute("aria-hidden", "true");
      svg.removeAttribute("role");
      svg.removeAttribute("aria-labelledby");
      svg.querySelectorAll("title").forEach((title) => title.remove());
    });
    document.querySelectorAll("[aria-label]").forEach((el) => {
      const visible = squash(el.innerText);
      const label = squash(el.getAttribute("aria-label"));
      if (visible && !label.toLowerCase().includes(visible.toLowerCase())) {
        el.setAttribute("aria-label", label && !visible.toLowerCase().includes(label.toLowerCase())
          ? `${visible} (${label})` : visible);
      }
    });
    document.querySelectorAll('.citation-list[role="list"]').forEach((list) => list.removeAttribute("role"));
  };
  document.addEventListener("DOMContentLoaded", () => {
    fix();
    // Font Awesome replaces <i> icons by SVGs after load: fix those too.
    let pending = false;
    new MutationObserver(() => {
      if (!pending) {
        pending = true;
        requestAnimationFrame(() => { pending = false; fix(); });
      }
    }).observe(document.body, {childList: true, subtree: true});
  });
  window.addEventListener("load", fix);
})();
