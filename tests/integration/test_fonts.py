"""Names in any script are drawn as letters in the plots (and so in the report, which embeds them)."""

from faceops.core.fonts import CJK_FAMILIES, font_families


def test_a_cjk_font_is_in_matplotlibs_fallback_list():
    families = font_families()
    assert families[0] == "DejaVu Sans"
    assert set(families) & set(CJK_FAMILIES), "no CJK font: run `make fonts` (Debian's fonts-noto-cjk)"
