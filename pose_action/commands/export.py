"""Export a trained run to TFLite (model.tflite beside model.keras) for the TensorFlow-free runtime.

Keras LSTMs convert only with fully static shapes, so the model is rebuilt with batch size 1
and its weights copied. The exported file is checked against the Keras model on sample
windows, through the runtime's own LiteRT backend, before it replaces anything: max abs
difference of the class probabilities <= 1e-4 unquantized, <= 1e-2 quantized.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pose_action.inference.export import FORMATS, QUANTIZATIONS, export_run

# What Ctrl-C leaves (cli.py prints it after the command's name).
INTERRUPTED = "interrupted; nothing was exported (the run is as it was)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run directory (from `pose-action train`)")
    parser.add_argument("--format", default="tflite", choices=FORMATS, help="export format (default: tflite)")
    parser.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                        help="none: float32; float16: half-size weights; dynamic: int8 weights "
                             "(default: none)")


def run(args: argparse.Namespace) -> int:
    result = export_run(args.run, quantize=args.quantize, format=args.format)
    print(f"{result.path}  {result.size_bytes / 1024:.1f} KB  quantize={result.quantize}  "
          f"max |tflite - keras| = {result.max_abs_diff:.1e}")
    return 0
