"""Fonts for plots: names in any script (Chinese, Japanese, Korean as well as Latin) drawn as letters, not boxes.

matplotlib falls back glyph by glyph along `font.family`, so the list is DejaVu Sans (its default, for Latin,
Greek, Cyrillic) followed by whichever CJK fonts this machine has: Debian's fonts-noto-cjk, which `make`
installs, or another common one.
"""

from __future__ import annotations

from pathlib import Path

CJK_FAMILIES = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Droid Sans Fallback",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
)
FONT_FILE_HINTS = ("NotoSansCJK", "DroidSansFallback", "wqy-")  # file names of the fonts above


def font_families() -> list[str]:
    """matplotlib's `font.family` for plots: DejaVu Sans, then every CJK fallback font matplotlib can use."""
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    if not known & set(CJK_FAMILIES):  # installed after matplotlib cached its font list: add the files now
        for path in font_manager.findSystemFonts():
            if any(hint in Path(path).name for hint in FONT_FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        known = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in CJK_FAMILIES if name in known)]


def use_fonts_for_names() -> None:
    """Set matplotlib's font list for this process's plots (the stages draw one figure after another)."""
    import matplotlib

    matplotlib.rcParams["font.family"] = font_families()
