"""Every relative link in the README and the documentation resolves, on GitHub and in the site.

A link names a file that exists and, when it has an anchor, a heading of that file; the anchor
must hold under both MkDocs' and GitHub's way of naming headings, since both render the pages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.markdown_links import Link, anchors, github_slug, links, mkdocs_slug

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def problem(link: Link) -> str | None:
    """Why a link does not resolve, or None."""
    target = (link.source.parent / link.path).resolve() if link.path else link.source
    if not target.is_file():
        return f"{link.path} does not exist"
    if link.anchor and target.suffix == ".md":
        site, github = anchors(target.read_text(encoding="utf-8"))
        missing = [
            name
            for name, found in (("MkDocs", site), ("GitHub", github))
            if link.anchor not in found
        ]
        if missing:
            return f"no heading with the anchor #{link.anchor} ({' and '.join(missing)})"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = [
        f"{page.relative_to(ROOT)}:{link.line}: {link.path}#{link.anchor}: {why}"
        for link in links(page)
        if (why := problem(link)) is not None
    ]
    assert broken == [], "\n".join(broken)


def test_readme_links_into_the_site() -> None:
    targets = {link.path for link in links(ROOT / "README.md")}
    assert {"docs/getting-started.md", "docs/configuration.md", "docs/deployment.md"} <= targets


def test_a_broken_link_and_a_missing_anchor_are_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Known gaps and choices\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\nSee [gaps](other.md#known-gaps-and-choices), [nothing](missing.md),\n"
        "[no such\nheading](other.md#nope) and [here](#page).\n\n"
        "```console\n[not a link](nowhere.md)\n```\n`[nor this](nowhere.md)`\n"
    )
    found = {(link.line, link.path, link.anchor): problem(link) for link in links(page)}
    assert found == {
        (3, "other.md", "known-gaps-and-choices"): None,
        (3, "missing.md", ""): "missing.md does not exist",
        (4, "other.md", "nope"): "no heading with the anchor #nope (MkDocs and GitHub)",
        (5, "", "page"): None,
    }


@pytest.mark.parametrize(
    ("heading", "site", "github"),
    [
        ("Known gaps and choices", "known-gaps-and-choices", "known-gaps-and-choices"),
        ("`enricher run` on Kafka", "enricher-run-on-kafka", "enricher-run-on-kafka"),
        ("1. Build and push the image", "1-build-and-push-the-image", "1-build-and-push-the-image"),
        ("Tenants / lanes", "tenants-lanes", "tenants--lanes"),
        ("EnricherNoProgress", "enrichernoprogress", "enrichernoprogress"),
    ],
)
def test_slugs_follow_each_renderer(heading: str, site: str, github: str) -> None:
    assert mkdocs_slug(heading) == site
    assert github_slug(heading) == github
