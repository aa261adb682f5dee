"""Style packs: format (versioned), discovery, blends and mixes, and the bundled packs (in ``packs/``)."""

from livestyle.styles.blend import engine_weights, expand, parse_blend
from livestyle.styles.pack import (FORMAT_VERSION, StylePack, default_style, discover, find_style, load_pack,
                                   load_packs, user_styles_dir)

__all__ = ["FORMAT_VERSION", "StylePack", "default_style", "discover", "engine_weights", "expand", "find_style",
           "load_pack", "load_packs", "parse_blend", "user_styles_dir"]
