"""`python -m pose_action` is the same program as `pose-action`."""

import sys

from pose_action.cli import main

sys.exit(main())
