// Accessibility fixes to the theme's markup, checked by tests/book/test_accessibility.py (axe-core).
// 1. A control's accessible name must contain its visible text (WCAG 2.5.3, axe label-content-name-mismatch):
//    the search button shows "Search Ctrl+K", the code toggles show "Show code cell source", but their
//    aria-labels said "Search" / "Toggle hidden content". The visible text now leads the name.
// 2. sphinxcontrib-bibtex marks the reference list role="list" without list items (aria-required-children).
document.addEventListener("DOMContentLoaded", () => {
  const squash = (s) => (s || "").replace(/\s+/g, " ").trim();
  document.querySelectorAll("[aria-label]").forEach((el) => {
    const visible = squash(el.innerText);
    const label = squash(el.getAttribute("aria-label"));
    if (visible && !label.toLowerCase().includes(visible.toLowerCase())) {
      el.setAttribute("aria-label", label && !visible.toLowerCase().includes(label.toLowerCase())
        ? `${visible} (${label})` : visible);
    }
  });
  document.querySelectorAll('[role="list"]').forEach((list) => {
    Array.from(list.children).forEach((item) => {
      if (!item.hasAttribute("role")) item.setAttribute("role", "listitem");
    });
  });
});
