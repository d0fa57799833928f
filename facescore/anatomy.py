"""Landmark indices of MediaPipe's 478-point face mesh, named by the patient's anatomy.

MediaPipe's ``RIGHT_*`` sets are the *subject's* right side, which appears on the image's left in
an unmirrored video. Every name here is anatomical: ``left`` is the patient's left. A mirrored
recording is un-mirrored in :mod:`facescore.sources` before any landmark is found, so these
indices hold for every frame that reaches the measurement code.
"""

from __future__ import annotations

SIDES: tuple[str, str] = ("left", "right")

MOUTH_CORNER = {"right": 61, "left": 291}
#: Inner upper and inner lower lip on the midline: their gap opens and closes in talking.
LIP_INNER = (13, 14)

BROW = {
    "right": (70, 63, 105, 66, 107, 46, 53, 52, 65, 55),
    "left": (300, 293, 334, 296, 336, 276, 283, 282, 295, 285),
}
#: The medial (inner) end of each brow: the part the corrugator pulls down and together.
BROW_INNER = {"right": (107, 55, 65, 66), "left": (336, 285, 295, 296)}

#: Upper and lower lid margins, lateral to medial: UPPER_LID[s][i] faces LOWER_LID[s][i].
UPPER_LID = {
    "right": (246, 161, 160, 159, 158, 157, 173),
    "left": (466, 388, 387, 386, 385, 384, 398),
}
LOWER_LID = {
    "right": (7, 163, 144, 145, 153, 154, 155),
    "left": (249, 390, 373, 374, 380, 381, 382),
}
#: The three central lid pairs: where aperture is measured (the ends converge at the canthi).
LID_CENTRE_PAIRS = {
    "right": ((160, 144), (159, 145), (158, 153)),
    "left": ((387, 373), (386, 374), (385, 380)),
}
EYE_CORNERS = {"right": (33, 133), "left": (263, 362)}  # (lateral, medial)

IRIS_CENTRE = {"right": 468, "left": 473}
#: Horizontal ends of each iris ring: its diameter is little affected by the lids.
IRIS_HORIZONTAL = {"right": (469, 471), "left": (474, 476)}

#: Midline and paranasal points whose centroid is the origin of the head-fixed frame.
RIGID = (168, 6, 197, 195, 5, 4, 122, 351)
#: The nasal ridge, from below the bridge to above the tip: the skin that facial muscles move
#: least in the exam's movements and in talking, so the head's motion in the picture is
#: measured on it. Left out: the bridge between the brows (168: procerus and frontalis move it
#: in frowns and brow raises), the tip (4: a one-sided smile pulls it and the alae toward the
#: smiling side; with it in, the frozen side of an added one-sided smile read 0.7-1.0 mm of
#: movement on real clips), the alae (122, 351: lifted in a smile), the inner canthi (their
#: patches see the lids, and eye closure then reads as head motion).
NASAL_RIDGE = (6, 197, 195, 5)

#: The landmarks a report marks on a picture of the face: the brows, the central lid pairs,
#: the mouth corners and the head-fixed origin's points (the mouth corners' reference).
MARKED: tuple[int, ...] = tuple(sorted(
    {*BROW["left"], *BROW["right"], *MOUTH_CORNER.values(), *RIGID}
    | {i for side in SIDES for pair in LID_CENTRE_PAIRS[side] for i in pair}))
