"""The facial-nerve exam's protocol: which movements a clinic asks for, and how each is read.

One definition, read by the phantom (what to perform), the guided session (what to prompt and
when), segmentation (what to recognise and how to measure each side) and the report (what to
call it). Pure data: importing this module loads no numerical library, so the command line's
parser and ``--help`` can list the movements cheaply.

Every movement of the protocol has

- an **instruction** (what the session prompts);
- a **measure**: the per-side signal that says how far each side moved, and in which direction
  (:func:`facescore.segments.activation`), or ``None`` when facescore has no per-side measure
  of it yet (it is then recognised and listed, never scored);
- a **recogniser**: MediaPipe's expression scores whose *sum over both sides* says that the
  face is making this movement (:mod:`facescore.recognition`). Summing the two sides keeps
  the model's pull toward symmetry out of the per-side measurement: the scores decide *what*
  the face does, never *how far* each side moved.

The four *measured* movements (:data:`MOVEMENTS`) are those of the seeds' exam; the variants
eFACE and Sunnybrook also need (gentle and tight eye closure, closed and open smile) are
measured by the same per-side signal as their base movement; snarl, lip pucker and lower-lip
depression are recognised so that they are never mistaken for an exam movement.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The movements facescore measures per side, in the order the exam asks for them.
MOVEMENTS: tuple[str, ...] = ("brow_raise", "eye_closure", "smile", "frown")

#: What a performance that is none of the protocol's movements is called (never scored).
OTHER = "other_expression"
#: A spontaneous blink (never an exam eye closure).
BLINK = "blink"
#: Talking (never an exam movement).
TALKING = "talking"
#: A glance: the eyes turn aside and back (never an exam movement).
GLANCE = "glance"

#: What a phantom can perform between the exam's movements (``facescore phantom
#: --distractors``): things a real recording holds that must never be scored as an exam
#: movement, each with what it does.
DISTRACTORS: dict[str, str] = {
    "lip_pucker": "both mouth corners 4.5 mm toward the midline and the lips pursed, paced as "
                  "an exam movement",
    TALKING: "the jaw opens and closes 4 times in 2 s, lip gap 3-6 mm",
    BLINK: "both upper lids down and back in 0.22 s",
    GLANCE: "both eyes turn toward the patient's left, iris 2.5 mm, for 0.6 s and back",
}


@dataclass(frozen=True)
class Movement:
    """One movement of the exam protocol.

    Attributes
    ----------
    name : str
        Identifier, snake case.
    instruction : str
        What the patient is asked to do.
    measured_as : str or None
        The measured movement (one of :data:`MOVEMENTS`) whose per-side signal scores this
        one, or None when there is no per-side measure (recognised only).
    region : str
        The face region whose per-frame validity governs the measure (``brow``, ``eye``,
        ``mouth``).
    signal : str
        The per-side signal and its direction, in words (see
        :func:`facescore.segments.activation`).
    recogniser : tuple of str
        Blendshape columns (``bs_*``, :func:`facescore.features.blendshape_column`) whose sum,
        averaged over the sides where a name has two, says the face is making this movement.
    scales : tuple of str
        Clinical scale items this movement informs.
    """

    name: str
    instruction: str
    measured_as: str | None
    region: str
    signal: str
    recogniser: tuple[str, ...]
    scales: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How people read the name: ``brow_raise`` → ``brow raise``."""
        return self.name.replace("_", " ")


PROTOCOL: tuple[Movement, ...] = (
    Movement("brow_raise", "Raise your eyebrows as high as you can", "brow_raise", "brow",
             "brow_lift, upward", ("bs_brow_inner_up", "bs_brow_outer_up"),
             ("eFACE brow elevation", "Sunnybrook forehead wrinkle", "House-Brackmann")),
    Movement("eye_closure", "Close your eyes gently", "eye_closure", "eye",
             "lid_drop, downward", ("bs_eye_blink",),
             ("eFACE gentle eye closure", "Sunnybrook gentle eye closure")),
    Movement("smile", "Smile broadly, showing your teeth", "smile", "mouth",
             "mouth corner, up and out at 45°", ("bs_mouth_smile",),
             ("eFACE open-mouth smile", "Sunnybrook open-mouth smile", "House-Brackmann")),
    Movement("frown", "Frown: pull your eyebrows down and together", "frown", "brow",
             "brow_lift, downward", ("bs_brow_down",)),
    # Variants scored by their base movement's signal.
    Movement("tight_eye_closure", "Close your eyes tightly", "eye_closure", "eye",
             "lid_drop, downward", ("bs_eye_blink", "bs_eye_squint"),
             ("eFACE full eye closure",)),
    Movement("closed_smile", "Smile with your lips closed", "smile", "mouth",
             "mouth corner, up and out at 45°", ("bs_mouth_smile",)),
    # Recognised only: no per-side measure yet.
    Movement("snarl", "Wrinkle your nose", None, "mouth", "not measured per side",
             ("bs_nose_sneer", "bs_mouth_upper_up"), ("Sunnybrook snarl",)),
    Movement("lip_pucker", "Pucker your lips as for a kiss", None, "mouth",
             "not measured per side", ("bs_mouth_pucker",),
             ("eFACE lip pucker", "Sunnybrook lip pucker")),
    Movement("lower_lip_depression", "Pull your lower lip down", None, "mouth",
             "not measured per side", ("bs_mouth_lower_down",), ("eFACE lower lip",)),
)

BY_NAME: dict[str, Movement] = {m.name: m for m in PROTOCOL}
#: The per-frame region whose validity mask governs each measured movement.
REGION: dict[str, str] = {name: BY_NAME[name].region for name in MOVEMENTS}
#: What the session prompts for each measured movement.
PROMPTS: dict[str, str] = {name: BY_NAME[name].instruction for name in MOVEMENTS}


@dataclass(frozen=True)
class Timing:
    """Phases of every performance of a scripted exam, s."""

    lead_in_s: float = 1.2  # rest before the first movement
    ramp_s: float = 0.4  # rest → peak and peak → rest
    hold_s: float = 0.6  # at peak
    rest_s: float = 1.0  # between performances

    def script_s(self, n_performances: int) -> float:
        """A script's length with this many performances, s (as
        :func:`facescore.phantom.exam_schedule` lays them out)."""
        return self.lead_in_s + n_performances * (2 * self.ramp_s + self.hold_s + self.rest_s)


#: The guided session's script: 3 s to settle, then for each movement 0.5 s to reach it, 2 s of
#: hold, 0.5 s to release and 2.5 s of rest.
SESSION_TIMING = Timing(lead_in_s=3.0, ramp_s=0.5, hold_s=2.0, rest_s=2.5)
#: The phantom's own quick exam.
EXAM_TIMING = Timing()

#: Named pacings: "exam", the phantom's quick one, and "session", the script ``facescore
#: session`` prompts, so that a phantom made with it can be played as the session's camera.
SCHEDULES: dict[str, Timing] = {"exam": EXAM_TIMING, "session": SESSION_TIMING}


def schedule_timing(name: str) -> Timing:
    """The :class:`Timing` of a named schedule (see :data:`SCHEDULES`)."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}"
                         ) from None


def display_name(name: str) -> str:
    """A movement's or event's name as people read it."""
    return {OTHER: "other expression"}.get(name, name.replace("_", " "))


def a_name(name: str) -> str:
    """A movement's or event's name with its article: "a smile", "an eye closure"."""
    shown = display_name(name)
    return f"{'an' if shown[:1] in 'aeiou' else 'a'} {shown}"
