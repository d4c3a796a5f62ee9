#!/usr/bin/env python3
"""Prints the mean brightness of the demo camera's images (numpy, no copy)."""
import axon

node = axon.Node("camera_mean")
sub = node.subscriber("/camera/image", axon.msgs.Image)
try:
    for image in sub:                      # blocks; Ctrl-C ends it
        with image:                        # held in the block (and while views live)
            pixels = image.data[: image.height * image.step]
            print(f"{image.width}x{image.height} {image.encoding}: mean {pixels.mean():.1f}")
except KeyboardInterrupt:
    pass
