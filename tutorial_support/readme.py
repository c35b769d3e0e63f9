"""Write generated tables into the README between HTML comment markers, so that figures have one source.

A block looks like this in the Markdown (the markers stay; what is between them is replaced):

    <!-- bench:begin -->
    ...generated...
    <!-- bench:end -->

Used by ``make bench`` (``bench``), ``make image-size`` (``image-size``), ``make load-test`` (``load-test``) and
``make security-tables`` (``auth-modes``, ``flood-cost``).
"""

from __future__ import annotations

from pathlib import Path

from tutorial_support.paths import README


def update_readme(markdown: str, readme: Path = README, marker: str = "bench") -> bool:
    """Replace the text between ``<!-- {marker}:begin -->`` and ``<!-- {marker}:end -->`` of ``readme`` by
    ``markdown``. Returns False, and changes nothing, when the markers are absent."""
    text = readme.read_text()
    begin, end = f"<!-- {marker}:begin -->\n", f"<!-- {marker}:end -->"
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    readme.write_text(head + begin + markdown + rest[rest.index(end):])
    return True
