"""Every stage of the flow, in order, on drawn actors: the `demo` command's work, and the tests' tiny run.

`DemoOptions` holds the sizes (6 actors: one held out for test, five to
learn from); `QUICK` is the one-minute version. Each step calls the same work function as
its command, so the demo exercises what a user's commands do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pose_action.errors import InputError
from pose_action.extraction.settings import THUMB_SIZE
from pose_action.files import check_writable, read_json
from pose_action.runs import CONFUSION_FILE, METRICS_FILE, SPLIT_FILE

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("data/demo")


@dataclass(frozen=True)
class DemoOptions:
    classes: tuple[str, ...] | None = None  # None: every synthetic action
    # 6 actors: one held out for test, five to learn from (the fixed recipe needs no
    # validation actor); fewer training actors left fusion near 0.65 on a held-out actor.
    actors: int = 6
    clips: int = 2
    seconds: float = 2.0
    epochs: int = 40  # drawn clips of 5 training actors: 0.95 at 60 epochs (25 fps) and at 40 (15 fps), 0.80 at 30
    frames: int = 16  # T
    thumb_size: int = THUMB_SIZE
    thumb_frames: int = 32
    scene_frames: int = 8  # of the T frames, the thumbnail CNN sees this many
    batch_size: int = 8  # 0.95 with 8; 16 trained faster but scored 0.80 (40 epochs)
    fps: float = 15.0  # of the drawn videos: 30 frames a clip keep extraction, most of the demo, short
    workers: int = 2
    seed: int = 0
    # how fusion serves its heads: the confidence gate needs no inner models, so the demo trains in
    # half the time; the learned mix (train's default) scored the same 0.95 here, all on the fused head
    fusion_gate: str = "confidence"


# (15 fps, as the full demo: 24 frames a clip. The tests' shared tiny run is this demo's output.)
QUICK = DemoOptions(classes=("Wave", "Squat", "JumpingJack"), actors=3, clips=1, seconds=1.6, epochs=3,
                    frames=8, thumb_size=16, thumb_frames=12, fps=15.0, workers=1)


@dataclass(frozen=True)
class DemoResult:
    out: Path
    videos: Path
    features: Path
    run: Path
    metrics: dict
    tflite: Path
    tflite_difference: float
    clip: Path
    predicted: str  # the label, or "unknown" below the confidence threshold
    top_label: str
    confidence: float
    annotated: Path
    seconds: float
    step_seconds: dict[str, float]  # where the time went, by step

    def summary(self) -> str:
        metrics = self.metrics
        steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.step_seconds.items())
        return "\n".join([
            f"demo finished in {self.seconds:.0f} s ({steps}); outputs in {self.out}",
            f"  videos     {self.videos}",
            f"  features   {self.features}  (manifest.csv lists every clip)",
            f"  run        {self.run}  fusion model: accuracy {metrics['accuracy']:.3f}, macro F1 "
            f"{metrics['macro_f1']:.3f} on {metrics['n_test']} held-out clips "
            f"(actors {', '.join(map(str, metrics['test_groups']))})",
            f"  reports    {self.run / METRICS_FILE}, {self.run / CONFUSION_FILE}",
            f"  tflite     {self.tflite}  (max |tflite - keras| {self.tflite_difference:.1e})",
            f"  predicted  {self.clip} (a {self.clip.parent.name} clip) -> {self.predicted} "
            f"({self.top_label} {self.confidence:.0%}) with the TensorFlow-free runtime",
            f"  annotated  {self.annotated}",
            f"next: pose-action predict {self.run} VIDEO --out annotated.mp4",
        ])


def first_test_clip(videos: Path, run: Path) -> Path:
    """A video the model never saw in training: the first of the run's test split."""
    keys = read_json(run / SPLIT_FILE)["test"]
    for key in keys:
        matches = sorted((videos / key).parent.glob(f"{Path(key).name}.*"))
        matches = [path for path in matches if not path.name.endswith(".csv")]
        if matches:
            return matches[0]
    raise InputError(f"{videos}: none of the run's test clips is there")


def run_demo(out: str | Path = DEFAULT_OUT, options: DemoOptions = DemoOptions(), *,
             progress: bool = True) -> DemoResult:
    """Every step of the flow into OUT/{videos,features,run}, plus OUT/prediction.mp4."""
    from pose_action.extraction.run import extract
    from pose_action.extraction.settings import make_settings
    from pose_action.inference.annotate import write_annotated
    from pose_action.inference.export import export_run
    from pose_action.inference.recognizer import Recognizer
    from pose_action.layout import FeaturesLayout
    from pose_action.synth.dataset import write_dataset
    from pose_action.training.evaluate import evaluate_run
    from pose_action.training.train import TrainOptions, train_run

    started = time.perf_counter()
    out = check_writable(out)  # before the first step: one line, not a step's log and then an error
    videos, features, run, annotated = out / "videos", out / "features", out / "run", out / "prediction.mp4"
    steps: dict[str, float] = {}
    clock = [time.perf_counter()]

    def done(step: str) -> None:
        now = time.perf_counter()
        steps[step] = now - clock[0]
        clock[0] = now

    log.info("1/6 synth: drawing actors into %s", videos)
    write_dataset(videos, classes=options.classes, actors=options.actors, clips=options.clips,
                  seed=options.seed, seconds=options.seconds, fps=options.fps, progress=progress)
    done("synth")
    log.info("2/6 extract: pose landmarks and thumbnails into %s", features)
    settings = make_settings("lite", thumb_size=options.thumb_size, thumb_frames=options.thumb_frames)
    report = extract(videos, features, settings, workers=options.workers, progress=progress)
    if report.count("failed"):
        raise InputError(f"{FeaturesLayout(features).manifest}: {report.count('failed')} synthetic clips "
                         "failed to extract")
    done("extract")
    log.info("3/6 train: fusion model (pose + thumbnails) into %s", run)
    train_run(features, run, TrainOptions(model="fusion", epochs=options.epochs, frames=options.frames,
                                          scene_frames=options.scene_frames, seed=options.seed,
                                          batch_size=options.batch_size,
                                          params={"fusion_gate": options.fusion_gate}),
              overwrite=True, quiet=not progress)
    done("train")
    log.info("4/6 evaluate: held-out actors")
    metrics = evaluate_run(run)
    done("evaluate")
    log.info("5/6 export: TFLite for the TensorFlow-free runtime")
    exported = export_run(run)
    done("export")
    clip = first_test_clip(videos, run)
    log.info("6/6 predict: %s with the TFLite model", clip)
    with Recognizer.load(run, "tflite") as recognizer:
        result = recognizer.predict_video(clip)
    write_annotated(result, annotated)
    done("predict")
    return DemoResult(out=out, videos=videos, features=features, run=run, metrics=metrics, tflite=exported.path,
                      tflite_difference=exported.max_abs_diff, clip=clip, predicted=result.label,
                      top_label=result.top(1)[0][0], confidence=float(result.probabilities.max()), annotated=annotated,
                      seconds=time.perf_counter() - started, step_seconds=steps)
