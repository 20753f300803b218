"""Inference: a trained run on video files and webcams (Keras or the TensorFlow-free LiteRT runtime), export,
drawing."""
