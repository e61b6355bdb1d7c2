// Keyboard access to tables that scroll (long tables, wide tables at phone width): a scrollable region must be
// focusable (WCAG 2.1.1; axe-core rule scrollable-region-focusable). Loaded on every page by Jupyter Book.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".bd-article table, .bd-article .output").forEach((el) => {
    const scrolls = el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
    if (scrolls && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");
    }
  });
});
