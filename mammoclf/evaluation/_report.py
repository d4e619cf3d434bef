"""A small report document rendered to Markdown and to self-contained HTML.

Also the atomic writers of the files a report links: its CSV tables and PNG
figures. :func:`~mammoclf.evaluation.write_report` assembles a report from
its sections (``_report_sections``).
"""

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from mammoclf.storage import atomic_write
from mammoclf.utils._formatting import markdown_table

__all__ = ["REPORT_HEADINGS", "Report", "save_figure", "section_links", "write_csv"]

#: The report's own sections, by reporting-checklist key (also their anchors).
REPORT_HEADINGS = {
    "data": "What was compared, and how",
    "training": "Training and preprocessing",  # mammoclf.evaluation.training_table
    "grad_cam": "Grad-CAM: where the models looked",
    "models": "Fitted models",
    "environment": "Environment",
}


def section_links(keys):
    """``{key: "[heading](#key)"}`` of the report sections ``keys``, for the checklist."""
    return {key: f"[{REPORT_HEADINGS[key]}](#{key})" for key in keys}


_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.banner { background: #fff3cd; border: 2px solid #d39e00; padding: .8em 1em; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
"""


@dataclass
class Report:
    """Sections of text, banners, tables and figures, written as report.md and report.html.

    Figures and tables are referenced by paths relative to the report folder,
    so the folder can be moved or zipped as a whole.
    """

    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text, anchor=None):
        """A section heading; ``anchor`` is the id that ``[...](#anchor)`` links to."""
        self.blocks.append(("heading", (text, anchor)))

    def paragraph(self, text):
        self.blocks.append(("paragraph", text))

    def banner(self, text):
        self.blocks.append(("banner", text))

    def bullets(self, items):
        self.blocks.append(("bullets", list(items)))

    def table(self, frame, caption=None):
        self.blocks.append(("table", (frame, caption)))

    def figure(self, relative_path, caption):
        self.blocks.append(("figure", (str(relative_path), caption)))

    def code(self, text):
        self.blocks.append(("code", text))

    # -------------------------------------------------------------- rendering
    def to_markdown(self):
        lines = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "heading":
                text, anchor = content
                if anchor:
                    lines += [f'<a id="{anchor}"></a>', ""]
                lines += [f"## {text}", ""]
            elif kind == "paragraph":
                lines += [content, ""]
            elif kind == "banner":
                lines += [f"> **{content}**", ""]
            elif kind == "bullets":
                lines += [f"- {item}" for item in content] + [""]
            elif kind == "table":
                frame, caption = content
                if caption:
                    lines += [f"*{caption}*", ""]
                lines += [markdown_table(frame), ""]
            elif kind == "figure":
                path, caption = content
                lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
            elif kind == "code":
                lines += ["```", content, "```", ""]
        return "\n".join(lines)

    def to_html(self):
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for kind, content in self.blocks:
            if kind == "heading":
                text, anchor = content
                anchor = f' id="{html.escape(anchor)}"' if anchor else ""
                parts.append(f"<h2{anchor}>{html.escape(text)}</h2>")
            elif kind == "paragraph":
                parts.append(f"<p>{_inline(content)}</p>")
            elif kind == "banner":
                parts.append(f'<div class="banner">{_inline(content)}</div>')
            elif kind == "bullets":
                parts.append(
                    "<ul>"
                    + "".join(f"<li>{_inline(i)}</li>" for i in content)
                    + "</ul>"
                )
            elif kind == "table":
                frame, caption = content
                if caption:
                    parts.append(f"<p><em>{_inline(caption)}</em></p>")
                parts.append(
                    _links(frame.to_html(index=False, escape=True, border=0, na_rep=""))
                )
            elif kind == "figure":
                path, caption = content
                parts.append(
                    f'<figure><img src="{html.escape(path)}" alt="{html.escape(caption)}">'
                    f"<figcaption>{_inline(caption)}</figcaption></figure>"
                )
            elif kind == "code":
                parts.append(f"<pre>{html.escape(content)}</pre>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, folder):
        """Write ``report.md`` and ``report.html`` into ``folder`` atomically."""
        folder = Path(folder)
        with atomic_write(folder / "report.md", "w") as handle:
            handle.write(self.to_markdown())
        with atomic_write(folder / "report.html", "w") as handle:
            handle.write(self.to_html())


# A Markdown link to a section of the same report, as table cells carry them.
_SECTION_LINK = re.compile(r"\[([^\]]+)\]\(#([\w-]+)\)")


def _links(escaped_html):
    """Turn the escaped ``[text](#anchor)`` links of table cells into HTML links."""
    return _SECTION_LINK.sub(r'<a href="#\2">\1</a>', escaped_html)


def _inline(text):
    """Escape text for HTML, keeping Markdown's **bold** and `code` readable."""
    escaped = html.escape(text)
    for marker, tag in (("**", "strong"), ("`", "code")):
        pieces = escaped.split(marker)
        if len(pieces) % 2 == 1 and len(pieces) > 1:
            escaped = "".join(
                piece if i % 2 == 0 else f"<{tag}>{piece}</{tag}>"
                for i, piece in enumerate(pieces)
            )
    return _links(escaped)


def write_csv(frame, path):
    """Write ``frame`` as CSV without its index, atomically."""
    with atomic_write(path, "w") as handle:
        frame.to_csv(handle, index=False)


def save_figure(figure, path):
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
