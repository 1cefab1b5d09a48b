"""The code you already have: a render function that knows nothing about queues or storage.

It stands in for an existing ``run_render_pipeline(image, texture, ...)``: lay a texture over a
photo, repeated ``real_world_scale`` times across its width, keeping the photo's shading.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageOps


def run_render_pipeline(
    image: Image.Image, texture: Image.Image, real_world_scale: int = 24
) -> Image.Image:
    photo = ImageOps.exif_transpose(image).convert("RGB")
    width, height = photo.size
    side = max(1, round(width / real_world_scale))
    tile = texture.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    tiled = Image.new("RGB", photo.size)
    for top in range(0, height, side):
        for left in range(0, width, side):
            tiled.paste(tile, (left, top))
    shading = ImageOps.autocontrast(photo.convert("L")).convert("RGB")
    return ImageChops.multiply(tiled, shading)
