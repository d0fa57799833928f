#!/usr/bin/env bash
# Regenerates the bundled sample: a scripted exam phantom of scikit-image's astronaut (NASA,
# public domain) with a weaker right side; its truth is written beside it.
set -euo pipefail
cd "$(dirname "$0")"
facescore phantom exam_right_weak.mp4 --size 640x480 --face-width 0.34 --noise 1.5 -q \
  --gain brow_raise:right:0.3 --gain eye_closure:right:0.6 \
  --gain smile:right:0.4 --gain frown:right:0.5
