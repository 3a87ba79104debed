"""The pages of web/ rendered from web/pages/ (drcaptcha_ops.pages): one navigation on every page, and a site
built for static hosting that holds every page and no template."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from drcaptcha_ops import pages

# The URL of each page, as the navigation links it.
PAGE_URLS = {
    "index.html": "/index.html",
    "try.html": "/try.html",
    "canvas.html": "/canvas.html",
    "methodology.html": "/methodology.html",
    "docs.html": "/docs.html",
    "admin/index.html": "/admin/",
}


class Navigation(HTMLParser):
    """The links of `<nav aria-label="Pages">`: (href, text, aria-current) each."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str | None]] = []
        self.navs = 0
        self.in_nav = False
        self.link: dict[str, str | None] | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "nav" and attributes.get("aria-label") == "Pages":
            self.navs += 1
            self.in_nav = True
        elif tag == "a" and self.in_nav:
            self.link = attributes
            self.text = ""

    def handle_data(self, data: str) -> None:
        if self.link is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.in_nav = False
        elif tag == "a" and self.link is not None:
            self.links.append((self.link.get("href") or "", self.text.strip(), self.link.get("aria-current")))
            self.link = None


def navigation_of(html: str) -> Navigation:
    parser = Navigation()
    parser.feed(html)
    parser.close()
    return parser


def test_every_page_is_rendered_from_a_template() -> None:
    assert pages.page_names() == sorted(PAGE_URLS)


@pytest.mark.parametrize("name", sorted(PAGE_URLS))
def test_every_page_has_the_same_navigation_with_itself_marked_current(name: str) -> None:
    # When the page is rendered
    navigation = navigation_of(pages.render(name))

    # Then it has one navigation, linking every page (Admin too) in the same order, and only itself is current
    assert navigation.navs == 1
    assert [(href, text) for href, text, _ in navigation.links] == [
        ("/index.html", "Home"),
        ("/try.html", "Try a captcha"),
        ("/canvas.html", "Draw a character"),
        ("/methodology.html", "Methodology"),
        ("/docs.html", "API docs"),
        ("/admin/", "Admin"),
    ]
    assert [href for href, _, current in navigation.links if current == "page"] == [PAGE_URLS[name]]


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("/", "index.html"),
        ("/try.html", "try.html"),
        ("/admin", "admin/index.html"),
        ("/admin/", "admin/index.html"),
        ("/admin/index.html", "admin/index.html"),
        ("/_base.html", None),
        ("/site.css", None),
        ("/admin/admin.js", None),
        ("/no-such.html", None),
        ("/../pages/index.html", None),
        ("/\x00.html", None),
    ],
)
def test_a_url_names_its_page_and_nothing_else_does(url: str, page: str | None) -> None:
    assert pages.page_name(url) == page


def test_the_built_site_has_every_page_rendered_and_no_template(tmp_path: Path) -> None:
    # When the site is built for static hosting, as `python -m drcaptcha_ops.pages build OUT` does
    site = tmp_path / "site"
    assert pages.main(["build", str(site)]) == 0

    # Then each page sits at its URL's path, rendered, beside web/'s other files, without web/pages/ or web/demo/
    assert sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html")) == sorted(PAGE_URLS)
    for name in PAGE_URLS:
        html = (site / name).read_text()
        assert "{%" not in html and "{{" not in html
        assert html == pages.render(name)
    assert (site / "widget.js").is_file()
    assert (site / "admin" / "admin.css").is_file()
    assert not (site / pages.PAGES_FOLDER).exists()
    assert not (site / "demo").exists()
