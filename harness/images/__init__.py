"""Container images the harness builds without a registry (see harness.images.build)."""

from harness.images.build import BASE, IMAGES, build, debian_mirror, image_exists

__all__ = ["BASE", "IMAGES", "build", "debian_mirror", "image_exists"]
