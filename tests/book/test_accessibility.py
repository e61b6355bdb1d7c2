"""axe-core (from the npm registry, `tools/package.json`) on every page of the built book, in headless Chromium.

Zero serious or critical violations (WCAG 2.0/2.1 A and AA rules, best practices). `make browser-setup`
installs axe-core with `npm ci --prefix tools`; without it the check is skipped with a message.
"""

from __future__ import annotations

import json

import pytest
from conftest import HTML, content_pages, open_page

from dexmood import paths

AXE = paths.PROJECT_ROOT / "tools" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
REPORT = HTML.parent / "accessibility.json"


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.exists():
        pytest.skip("axe-core is not installed: `npm ci --prefix tools` (make browser-setup)")
    return AXE


@pytest.mark.parametrize("viewport_name", ["desktop", "phone"])
def test_no_serious_accessibility_violations(built_book, browser, axe_source, viewport_name):
    problems, summary = [], {}
    for page_path in content_pages():
        context, page = open_page(browser, page_path, viewport_name)
        page.add_script_tag(path=str(axe_source))
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations'],
              runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5), count: v.nodes.length}));
        }""")
        context.close()
        name = page_path.relative_to(HTML).as_posix()
        summary[name] = {v["id"]: {"impact": v["impact"], "count": v["count"]} for v in result}
        problems += [f"{name}: {v['impact']} {v['id']} ({v['help']}) x{v['count']}: {v['nodes']}"
                     for v in result if v["impact"] in BLOCKING]
    REPORT.write_text(json.dumps({"viewport": viewport_name, "pages": summary}, indent=1))
    assert not problems, "serious/critical accessibility violations:\n" + "\n".join(problems)
