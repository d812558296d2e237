"""WCAG 2.1 A/AA checks in the browser tests with axe-core (npm), installed at test time outside the repo.

axe-core is not vendored: the first run installs it with `npm install --prefix <dir> axe-core@4`, where <dir> is
SCHOOLPASS_AXE_DIR or ~/.cache/schoolpass-axe. Without npm (or without the registry) the checks skip, unless
SCHOOLPASS_TEST_BROWSER=1, where they fail. Our pages send a strict CSP (no scripts), so pages to check must
come from a context made with bypass_csp=True: use `new_page(browser)`.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.web.browser import ARTIFACTS

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


def _axe_dir() -> Path:
    return Path(os.environ.get("SCHOOLPASS_AXE_DIR") or Path.home() / ".cache" / "schoolpass-axe")


def _unavailable(reason: str):
    if os.environ.get("SCHOOLPASS_TEST_BROWSER") == "1":
        pytest.fail(f"SCHOOLPASS_TEST_BROWSER=1 but axe-core is unavailable: {reason}")
    pytest.skip(f"axe-core is unavailable ({reason}): accessibility checks skipped")


@functools.cache
def _install() -> str | None:
    """The text of axe.min.js, installing axe-core@4 when missing; or why it could not be had."""
    folder = _axe_dir()
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "axe-core@4"],
                           check=True, capture_output=True, timeout=180)
        except (OSError, subprocess.SubprocessError):
            return None
        if not script.exists():
            return None
    return script.read_text(encoding="utf-8")


def axe_source() -> str:
    source = _install()
    if source is None:
        _unavailable(f"no {_axe_dir() / 'node_modules/axe-core/axe.min.js'} and `npm install axe-core@4` failed "
                     "(is npm installed and the npm registry reachable?)")
    return source


def new_page(browser, **options):
    """A page in a fresh context that may inject axe despite the pages' CSP (bypass_csp=True)."""
    return browser.new_context(bypass_csp=True, **options).new_page()


def check_accessibility(page, name: str) -> list[dict]:
    """Run axe-core (WCAG 2.1 A/AA rules) on the page as it is; fail on serious or critical violations.

    Every violation found (any impact) is saved to test-artifacts/axe-<name>.json; returns them."""
    source = axe_source()
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    results = page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))}));
    }""", TAGS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps({"url": page.url, "violations": results}, indent=2),
                                                encoding="utf-8")
    blocking = [v for v in results if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core on {name} ({page.url}):\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} ({v['helpUrl']})\n    "
        + "\n    ".join(f"{n['target']}: {n['html'][:160]}" for n in v["nodes"][:5]) for v in blocking)
    return results
