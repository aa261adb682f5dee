"""Style packs: format, discovery and the bundled packs (in ``packs/``)."""

from livestyle.styles.pack import StylePack, default_style, discover, find_style, user_styles_dir

__all__ = ["StylePack", "default_style", "discover", "find_style", "user_styles_dir"]
