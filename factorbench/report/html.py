"""HTML pieces of the report: a page shell with its stylesheet, tables, cards, figures.

Static and self-contained: one inline stylesheet, no JavaScript, images referenced by
relative paths to files written beside the page, so a page opens from disk.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, List, Sequence, Tuple

from .cards import Card

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.best { font-weight: bold; }
p.caption, figcaption { color: #555; font-size: 0.88em; }
figure { display: inline-block; margin: 0.6em 1em 0.6em 0; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #eee; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: 0.4em 0.8em; margin: 0.6em 0; background: #fafafa; }
.verdict-holds { color: #116611; font-weight: bold; } .verdict-holds-not-significant { color: #557733; }
.verdict-fails-not-significant { color: #aa6600; } .verdict-contradicted { color: #aa1111; font-weight: bold; }
.verdict-not-measured { color: #777; } nav a { margin-right: 1em; }
"""


def page(title: str, body: Sequence[str], nav: Iterable[Tuple[str, str]] = ()) -> str:
    links = "".join(f'<a href="{escape(href)}">{escape(text)}</a>' for text, href in nav)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<nav>{links}</nav><h1>{escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")


def table(rows: Sequence[Sequence[Tuple[str, bool]]], caption: str = "", css_id: str = "") -> str:
    """Header row then body rows of (text, is_best) cells."""
    head = "".join(f"<th>{escape(t)}</th>" for t, _ in rows[0])
    best = ' class="best"'
    body = "".join("<tr>" + "".join(f"<td{best if b else ''}>{escape(t)}</td>" for t, b in r) + "</tr>"
                   for r in rows[1:])
    ident = f' id="{escape(css_id)}"' if css_id else ""
    cap = f'<p class="caption">{escape(caption)}</p>' if caption else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{cap}"


def plain_table(header: Sequence[str], rows: Iterable[Sequence[str]], css_id: str = "") -> str:
    return table([[(h, False) for h in header]] + [[(str(c), False) for c in r] for r in rows], css_id=css_id)


def verdict_class(verdict: str) -> str:
    """"holds, not significant" -> "verdict-holds-not-significant"."""
    return "verdict-" + verdict.replace(",", "").replace(" ", "-")


def findings_table(results, css_id: str = "findings") -> str:
    head = "".join(f"<th>{h}</th>" for h in ("id", "claim (thesis section)", "thesis", "ours (preset, seeds)", "verdict"))
    rows = []
    for r in results:
        f = r.finding
        rows.append(f"<tr><td>{escape(f.id)}</td><td>{escape(f.claim)} ({escape(f.section)})</td>"
                    f"<td>{escape(f.thesis)}</td><td>{escape(r.ours)} ({escape(r.preset)}, {r.seeds} seeds)</td>"
                    f'<td class="{verdict_class(r.verdict)}">{escape(r.verdict)}</td></tr>')
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def card(c: Card, versions: bool = True) -> str:
    parts = [f'<div class="card"><strong>{escape(c.metric)}</strong>']
    for items, n in c.protocols:
        parts.append(f"<p class=\"caption\">{n} record(s):</p>")
        parts.append(plain_table(["protocol", "value"], items))
    if versions and c.versions:
        parts.append(plain_table(["library", "version"], c.versions))
    parts.append("</div>")
    return "".join(parts)


def figure(src: str, caption: str, alt: str = "") -> str:
    return (f'<figure><img src="{escape(src)}" alt="{escape(alt or caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def section(title: str, content: List[str], css_id: str = "") -> str:
    ident = f' id="{escape(css_id)}"' if css_id else ""
    return f"<section{ident}><h2>{escape(title)}</h2>" + "\n".join(content) + "</section>"
