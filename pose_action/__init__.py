"""pose_action: recognize human actions in videos from pose landmarks fused with scene context."""

__version__ = "0.1.0"
